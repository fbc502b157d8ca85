"""Import every model so that the metadata (and Alembic) sees all tables."""

from helpdesk.access.models import BreakGlassGrant
from helpdesk.audit import AuditChainHead, AuditEvent, AuditSeal
from helpdesk.auth.models import ApiToken, AuthSession, MfaRecoveryCode, SsoIdentity, User
from helpdesk.auth.password_models import AccessRequest, AuthThrottle, IdentityCheck, PasswordResetToken
from helpdesk.auth.portal_models import PatientIdentifier, PatientLink
from helpdesk.clinical.models import AlertRecipient, ClinicalAlert, OnCallMember, OnCallShift
from helpdesk.i18n.models import NameTranslation
from helpdesk.idempotency import IdempotencyKey
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
from helpdesk.retention.models import LegalHold, PurgedTicket, RetentionPolicy, RetentionRun
from helpdesk.routing.models import ModelVersion, RoutingDecision, RoutingLabel
from helpdesk.sla.models import (
    Notification,
    SlaCalendar,
    SlaMetric,
    SlaPolicy,
    SlaPolicyVersion,
    SlaQueueSettings,
    TicketSla,
)
from helpdesk.sla.rollup import DashAgent, DashDay, DashSla, DashStaleDay, DashVolume
from helpdesk.storage import StoredBlob
from helpdesk.tickets.models import Message, MessageVersion, Queue, QueueMembership, RequestRead, Ticket
from helpdesk.tickets.workspace_models import Macro, SavedView, TicketMerge, TicketPresence
from helpdesk.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiToken", "AuditChainHead", "IdempotencyKey", "AuditEvent", "AuditSeal", "AuthSession", "BreakGlassGrant", "Message",
    "MessageVersion", "MfaRecoveryCode", "ModelVersion", "OutboxJob", "Queue", "QueueMembership", "RequestRead",
    "RoutingDecision", "RoutingLabel", "SsoIdentity", "Ticket", "User",
    # knowledge base
    "Article", "ArticleFeedback", "ArticleQueue", "ArticleVersion", "ArticleViewDay", "Deflection", "KbIndexState",
    "TicketArticleLink",
    # SLAs
    "Notification", "SlaCalendar", "SlaMetric", "SlaPolicy", "SlaPolicyVersion", "SlaQueueSettings", "TicketSla",
    "DashAgent", "DashDay", "DashSla", "DashStaleDay", "DashVolume",
    # agent workspace
    "Macro", "SavedView", "TicketMerge", "TicketPresence",
    # passwords and identity checks
    "AccessRequest", "AuthThrottle", "IdentityCheck", "PasswordResetToken",
    # the patient portal's identity
    "PatientIdentifier", "PatientLink",
    # clinical alerts and the on-call roster
    "AlertRecipient", "ClinicalAlert", "OnCallMember", "OnCallShift",
    # notify and stored files
    # names of queues and help-centre topics in other languages
    "NameTranslation",
    # retention
    "LegalHold", "PurgedTicket", "RetentionPolicy", "RetentionRun",
    "StoredBlob", "Attachment", "CsatSurvey", "InboundMail", "NotifyDelivery", "NotifyPreference", "OutgoingEmail",
    # webhooks
    "WebhookDelivery", "WebhookEndpoint",
]
