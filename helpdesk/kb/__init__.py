"""Knowledge base: articles, search, suggestions for agents, self-service for patients."""
