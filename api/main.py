"""The ASGI app uvicorn serves (`api.main:app`)."""
from api.app import create_app

app = create_app()
