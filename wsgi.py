"""What a WSGI server serves: `gridlink serve` runs it under gunicorn; `flask --app wsgi run` for development."""

from webapp import create_app

app = create_app()
