"""The web console for unit staff and analysts (`/console`): server-rendered pages (Jinja2,
htmx), the same lifecycle rules as the Telegram cards. Sits on top, beside the channels."""
