"""One router per resource (health, auth, studies, participants, sessions, recordings,
assessments, models) plus the HTML pages."""
