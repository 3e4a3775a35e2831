"""The old /builder/ addresses of Programmes. The surface is the `programmes` blueprint at
/programmes/ now; bookmarks, emails and browser history still name /builder/, so each old
rule answers with a permanent redirect (portal/web/moved.py).

No page lives here: the rules stay on a blueprint of their own, restricted like Programmes,
so the access guard answers an old address exactly as it answers the new page (a client
gets 403, a stranger the sign-in page) before any redirect is given.
"""

from __future__ import annotations

from flask import Blueprint

from portal.models import Role
from portal.web.access import restrict
from portal.web.moved import moved

bp = Blueprint("builder", __name__, url_prefix="/builder")
restrict(bp, Role.THERAPIST)

moved(bp, "/", "programmes.index")
moved(bp, "/words", "programmes.words")
moved(bp, "/<int:client_id>", "programmes.edit", methods=["GET", "POST"])
moved(bp, "/<int:client_id>/template", "programmes.save_template", methods=["POST"])
moved(bp, "/<int:client_id>/apply", "programmes.apply_template", methods=["POST"])
moved(bp, "/templates", "programmes.templates")
moved(bp, "/templates/<int:template_id>/delete", "programmes.delete_template", methods=["POST"])
moved(bp, "/<int:client_id>/versions", "programmes.versions")
moved(bp, "/<int:client_id>/logs/<int:log_id>/acknowledge", "programmes.acknowledge",
      methods=["POST"])
