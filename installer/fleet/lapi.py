"""CrowdSec's Local API over HTTP, with the standard library: a machine publishes and lifts decisions
(login with its password, then a JWT), a bouncer reads them (its API key).

Each decision this fleet makes names its host and jail in its scenario, qmail-f2b/HOST/JAIL, so that
one host's decisions can be told from another's and lifted alone (unban --local).
"""

import datetime
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from installer.shared import addresses
from installer.shared.durations import FOR_EVER
from installer.shared.errors import InstallerError

ORIGIN = "qmail-f2b"
# A ban without end (bantime = -1) lasts this long at the LAPI: ten years.
FOR_EVER_SECONDS = 10 * 365 * 86400
TIMEOUT = 5
# A JWT lasts an hour; it is renewed a little before.
TOKEN_LIFE = 3000


class Unreachable(InstallerError):
    """The Local API did not answer (down, or the network): what it was asked can be asked again."""


class Refused(InstallerError):
    """The Local API refused the credentials, or the token they got (HTTP 401 or 403)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def scenario(host, jail):
    return f"{ORIGIN}/{host}/{jail}"


def published_by(decision, host):
    """Whether decision is one that host published."""
    return str(decision.get("scenario", "")).startswith(f"{ORIGIN}/{host}/")


def _stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert(host, jail, network, seconds):
    """The alert that carries one ban decision: every top-level field, as LAPI 1.4 requires."""
    value = addresses.spell(network)
    scope = "Ip" if network.prefixlen == network.max_prefixlen else "Range"
    seconds = FOR_EVER_SECONDS if seconds == FOR_EVER else int(seconds)
    reason = scenario(host, jail)
    now = _stamp()
    source = {"scope": scope, "value": value, ("ip" if scope == "Ip" else "range"): value}
    return {"capacity": 0, "decisions": [{"duration": f"{seconds}s", "origin": ORIGIN, "scenario": reason,
                                          "scope": scope, "type": "ban", "value": value}],
            "events": [], "events_count": 1, "leakspeed": "0", "message": f"{host} {jail} banned {value}",
            "scenario": reason, "scenario_hash": "", "scenario_version": "", "simulated": False,
            "source": source, "start_at": now, "stop_at": now}


def _query(network):
    """The query that selects the decisions on this address or range, and on every range around it."""
    key = "ip" if network.prefixlen == network.max_prefixlen else "range"
    return {key: addresses.spell(network)}


def _network_of(decision):
    try:
        return addresses.parse(str(decision.get("value", "")))
    except InstallerError:
        return None


class Lapi:
    def __init__(self, url, host, password=None, bouncer_key=None, timeout=TIMEOUT):
        self.url = url.rstrip("/")
        self.host = host
        self.password = password
        self.bouncer_key = bouncer_key
        self.timeout = timeout
        self._token, self._token_until = None, 0.0
        # No proxy from the environment: the LAPI is on the fleet's own network.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method, path, body=None, query=None, auth=None):
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        for name, value in (auth or {}).items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                who = "this host's password" if "Authorization" in (auth or {}) or path.endswith("/login") \
                    else "this host's bouncer key"
                raise Refused(f"the Local API at {self.url} refuses {who} (HTTP {error.code}): check"
                              f" the credentials of {self.host}", error.code) from None
            raise InstallerError(f"the Local API at {self.url} answered {method} {path} with HTTP {error.code}:"
                                 f" {error.read(300).decode('utf-8', 'replace').strip()}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(f"the Local API at {self.url} does not answer: {reason}") from None
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise InstallerError(f"the Local API at {self.url} answered {method} {path} with no JSON") from None

    def _machine(self):
        if self._token is None or time.monotonic() > self._token_until:
            if self.password is None:
                raise InstallerError(f"no password for machine {self.host}")
            answer = self._call("POST", "/v1/watchers/login",
                                {"machine_id": self.host, "password": self.password, "scenarios": []})
            self._token = (answer or {}).get("token")
            if not self._token:
                raise InstallerError(f"the Local API at {self.url} gave {self.host} no token")
            self._token_until = time.monotonic() + TOKEN_LIFE
        return {"Authorization": f"Bearer {self._token}"}

    def _as_machine(self, method, path, body=None, query=None):
        fresh = self._token is None or time.monotonic() > self._token_until
        try:
            return self._call(method, path, body, query=query, auth=self._machine())
        except Refused as error:
            if fresh or error.status != 401:
                raise
        # The LAPI signs its tokens with a secret it draws at each start: after a restart, a token
        # it gave before is refused though the password is right.
        self._token = None
        return self._call(method, path, body, query=query, auth=self._machine())

    def _bouncer(self):
        if self.bouncer_key is None:
            raise InstallerError(f"no bouncer key for {self.host}")
        return {"X-Api-Key": self.bouncer_key}

    def login(self):
        """Checks the machine's password (a fresh login)."""
        self._token = None
        self._machine()

    def publish(self, alerts):
        """Sends alerts (with their decisions); the LAPI's ids of the alerts."""
        return self._as_machine("POST", "/v1/alerts", alerts) or []

    def decisions(self, network=None):
        """The decisions in force, for one address or range, or all of them."""
        return self._call("GET", "/v1/decisions", query=_query(network) if network else None,
                          auth=self._bouncer()) or []

    def lift(self, network):
        """Deletes every decision on exactly this address or range, whoever made it; how many."""
        return self._lift(network, lambda decision: True)

    def lift_own(self, network):
        """Deletes this host's decisions on the address or range, and no other host's; how many."""
        return self._lift(network, lambda decision: published_by(decision, self.host))

    def _lift(self, network, chosen):
        lifted = 0
        for decision in self.decisions(network):
            # The LAPI selects every decision that covers the address, a banned range around it too:
            # that range is not the one to lift.
            if _network_of(decision) == network and chosen(decision):
                answer = self._as_machine("DELETE", f"/v1/decisions/{int(decision['id'])}")
                lifted += int((answer or {}).get("nbDeleted", 0))
        return lifted
