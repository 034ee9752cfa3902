"""The market as a running service (paper §5.2 ICT, §5.3 DSO market, §6 LFM).

``create_app(Settings(...))`` builds the FastAPI app: REST API v1 under ``/api/v1``
(OpenAPI at ``/docs``), the web view at ``/``, a gate scheduler that clears each ISP's gate at
closure with ``localflex.market.clear_dso_single_buyer``, and the continuous market of
``localflex.market.continuous``. The store is ``localflex.store`` (SQLite or PostgreSQL).
On PostgreSQL several API worker processes can serve one market (``localflex serve
--workers N``): they keep no market state of their own, and the continuous market's matching
is serialised in the store (``books``). Every error answer is an RFC 9457 problem document
(``errors``); request bodies are capped (``limits``).
"""

from localflex.service.app import create_app, start_service
from localflex.service.context import ServiceContext
from localflex.service.parties import bootstrap_operator
from localflex.service.settings import Settings

__all__ = ["ServiceContext", "Settings", "bootstrap_operator", "create_app", "start_service"]
