"""Import every model so that the metadata (and Alembic) sees all tables."""

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import ApiToken, User
from helpdesk.jobs import OutboxJob
from helpdesk.kb.models import (
    Article,
    ArticleFeedback,
    ArticleQueue,
    ArticleVersion,
    ArticleViewDay,
    Deflection,
    KbIndexState,
    TicketArticleLink,
)
from helpdesk.notify.models import (
    Attachment,
    CsatSurvey,
    InboundMail,
    NotifyDelivery,
    NotifyPreference,
    OutgoingEmail,
)
from helpdesk.routing.models import ModelVersion, RoutingDecision, RoutingLabel
from helpdesk.sla.models import Notification, SlaCalendar, SlaMetric, SlaPolicy, TicketSla
from helpdesk.tickets.models import Message, Queue, QueueMembership, Ticket

__all__ = [
    "ApiToken", "AuditEvent", "Message", "ModelVersion", "OutboxJob", "Queue", "QueueMembership",
    "RoutingDecision", "RoutingLabel", "Ticket", "User",
    # knowledge base
    "Article", "ArticleFeedback", "ArticleQueue", "ArticleVersion", "ArticleViewDay", "Deflection", "KbIndexState",
    "TicketArticleLink",
    # SLAs
    "Notification", "SlaCalendar", "SlaMetric", "SlaPolicy", "TicketSla",
    # notify
    "Attachment", "CsatSurvey", "InboundMail", "NotifyDelivery", "NotifyPreference", "OutgoingEmail",
]
