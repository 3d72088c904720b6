"""What a WSGI server serves: `waitress-serve wsgi:app`, `gunicorn wsgi:app`, or `flask --app wsgi`."""

from webapp import create_app

app = create_app()
