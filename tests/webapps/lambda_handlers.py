"""Lambda handlers: each framework behind the adapter users put it behind, with the layer
(``LAMBDA_HANDLER``) or ``@instana.lambda_handler`` around it, with or without our middleware
inside. Frameworks are imported only by the handler asked for (one per sandbox)."""

from __future__ import annotations

import os
from typing import Any

import instana_serverless as instana

kind = os.environ["WEBAPP_HANDLER"]
handler: Any

if kind.startswith("mangum"):
    from mangum import Mangum

    from tests.webapps import fastapi_app

    inner = fastapi_app.traced() if kind.endswith("-traced") else fastapi_app.app
    handler = Mangum(inner, lifespan="off")
elif kind.startswith("apig-wsgi"):
    from apig_wsgi import make_lambda_handler

    if "django" in kind:
        from tests.webapps import django_app as wsgi_module
    else:
        from tests.webapps import flask_app as wsgi_module  # type: ignore[no-redef]
    inner = wsgi_module.traced() if kind.endswith("-traced") else wsgi_module.app
    handler = make_lambda_handler(inner)
elif kind.startswith("serverless-wsgi"):
    import serverless_wsgi

    from tests.webapps import flask_app

    def handler(event: Any, context: Any) -> Any:
        return serverless_wsgi.handle_request(flask_app.app, event, context)
elif kind.startswith("aws-wsgi"):
    import awsgi

    from tests.webapps import flask_app

    def handler(event: Any, context: Any) -> Any:
        return awsgi.response(flask_app.app, event, context)
else:
    raise SystemExit(f"unknown WEBAPP_HANDLER {kind}")

# Without the layer: the decorator, as in the package's README.
decorated = instana.lambda_handler(handler)
