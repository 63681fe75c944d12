"""WebRTC configuration for the live page: no external STUN server unless one is configured.

The app must work without internet, so the default is ``{"iceServers": []}``: browser and server
connect over host candidates (fine on one machine or a LAN).  Deployments behind NAT supply
STUN/TURN servers, first match wins:

1. ``DEEPFER_ICE_SERVERS``: a JSON list, e.g. ``[{"urls": ["stun:stun.l.google.com:19302"]}]``;
2. ``DEEPFER_ICE_SERVERS_FILE``: path of a JSON file holding such a list (or ``{"iceServers": [...]}``);
3. ``dashboard/ice_servers.json`` beside this module, when it exists.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from deepfer.config import ENV_ICE_SERVERS, ENV_ICE_SERVERS_FILE
from deepfer.errors import DeepFERError

ENV_SERVERS = ENV_ICE_SERVERS
ENV_FILE = ENV_ICE_SERVERS_FILE
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "ice_servers.json"


class RTCConfigError(DeepFERError):
    """The STUN/TURN setting is present but not valid."""


def _validate(servers, source: str) -> list[dict]:
    if isinstance(servers, dict) and "iceServers" in servers:
        servers = servers["iceServers"]
    if not isinstance(servers, list):
        raise RTCConfigError(f"{source}: expected a JSON list of ICE servers like [{{\"urls\": [\"stun:host:3478\"]}}]")
    out = []
    for i, s in enumerate(servers):
        if not isinstance(s, dict) or not s.get("urls"):
            raise RTCConfigError(f"{source}: ICE server #{i + 1} needs a 'urls' entry (string or list of strings)")
        urls = [s["urls"]] if isinstance(s["urls"], str) else s["urls"]
        if not isinstance(urls, list) or not all(isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns") for u in urls):
            raise RTCConfigError(f"{source}: ICE server #{i + 1}: urls must start with stun:, stuns:, turn: or turns:")
        entry = {"urls": urls}
        for key in ("username", "credential"):
            if key in s:
                entry[key] = str(s[key])
        out.append(entry)
    return out


def ice_servers(environ: dict | None = None) -> tuple[list[dict], str]:
    """The configured ICE servers and where they came from (``"default (none)"`` when unset)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_SERVERS, "").strip():
        try:
            data = json.loads(env[ENV_SERVERS])
        except json.JSONDecodeError as exc:
            raise RTCConfigError(f"${ENV_SERVERS} is not valid JSON ({exc.msg} at position {exc.pos})") from None
        return _validate(data, f"${ENV_SERVERS}"), f"${ENV_SERVERS}"
    path = Path(env[ENV_FILE]) if env.get(ENV_FILE, "").strip() else DEFAULT_FILE
    if env.get(ENV_FILE, "").strip() and not path.is_file():
        raise RTCConfigError(f"${ENV_FILE} points to {path}, which does not exist")
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RTCConfigError(f"{path}: not a readable JSON file ({exc})") from None
        return _validate(data, str(path)), str(path)
    return [], "default (none)"


def rtc_configuration(servers: list[dict]) -> dict:
    """``{"iceServers": servers}`` for ``webrtc_streamer(rtc_configuration=...)``; never ``None``,
    which would make streamlit-webrtc reach out to the internet for servers."""
    return {"iceServers": list(servers)}
