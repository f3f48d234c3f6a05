"""Buyer connections, PunchOut sessions and the cart lines a buyer's user fills in a session."""

import ipaddress
import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel
from apps.core.secrets import hash_secret

# One allowed host per line: a host name, an IPv4 address, an IPv6 address
# in brackets or "*." plus a domain, optionally followed by ":port". No
# scheme, path or user info.
_HOST_PATTERN = re.compile(
    r"^(?P<host>(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(:(?P<port>\d{1,5}))?$"
)


class HostPattern:
    """One line of ``BuyerConnection.allowed_return_hosts``: a host, or ``*.domain`` for its subdomains, and a port.

    Without a port the pattern allows any port. ``*.example.com`` allows
    ``a.example.com`` and ``a.b.example.com`` but not ``example.com`` itself.
    """

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int | None) -> None:
        self.host = host
        self.port = port

    @classmethod
    def parse(cls, text: str) -> "HostPattern":
        value = text.strip().lower()
        match = _HOST_PATTERN.match(value)
        if not match:
            raise ValueError(
                f"{text.strip()!r} is not a host pattern; write a host such as localhost, 127.0.0.1 or "
                "*.ariba.com, optionally with :port, without scheme or path."
            )
        port = match.group("port")
        host = match.group("host")
        if host.startswith("["):
            try:
                # Stored without brackets and compressed, the way urlsplit().hostname returns an IPv6 host.
                host = ipaddress.IPv6Address(host[1:-1]).compressed
            except ValueError:
                raise ValueError(f"{text.strip()!r} is not a valid IPv6 address in brackets, such as [::1].") from None
        if port is not None and not 1 <= int(port) <= 65535:
            raise ValueError(f"Port {port} in {text.strip()!r} is out of range; use 1 to 65535.")
        return cls(host, int(port) if port is not None else None)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if ":" in self.host:
            try:
                return ipaddress.IPv6Address(host).compressed == self.host
            except ValueError:
                return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host

    def as_csp_source(self) -> str:
        """Return the pattern as a CSP host-source. A pattern without a port allows every port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port if self.port is not None else '*'}"


class BuyerConnection(TimeStampedModel):
    """A buyer's procurement system allowed to open PunchOut sessions for one customer.

    cXML connections are found by their Sender credential (domain compared
    case-insensitively, identity exactly) and checked against the stored hash
    of the shared secret. The From and To credentials must match as well.
    """

    class Protocol(models.TextChoices):
        CXML = "cxml", "cXML"
        OCI = "oci", "SAP OCI"

    class CartField(models.TextChoices):
        CXML_URLENCODED = "cxml-urlencoded", "cxml-urlencoded (the document form-encoded)"
        CXML_BASE64 = "cxml-base64", "cxml-base64 (the document in Base64)"

    name = models.CharField(max_length=200)
    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="buyer_connections")
    contract = models.ForeignKey(
        "contracts.Contract",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="buyer_connections",
        help_text="Empty: the customer's contract in force on the day a session opens.",
    )
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.CXML)

    from_domain = models.CharField("From domain", max_length=100, blank=True, help_text="Such as NetworkID or DUNS.")
    from_identity = models.CharField("From identity", max_length=255, blank=True)
    to_domain = models.CharField("To domain", max_length=100, blank=True, help_text="Our credential's domain.")
    to_identity = models.CharField("To identity", max_length=255, blank=True, help_text="Our identity at the buyer.")
    sender_domain = models.CharField("Sender domain", max_length=100, blank=True)
    sender_identity = models.CharField("Sender identity", max_length=255, blank=True)
    shared_secret_hash = models.CharField(max_length=128, blank=True, editable=False)
    shared_secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)

    oci_username = models.CharField("OCI USERNAME", max_length=100, blank=True)
    oci_password_hash = models.CharField(max_length=128, blank=True, editable=False)
    oci_password_set_at = models.DateTimeField(null=True, blank=True, editable=False)

    allowed_return_hosts = models.TextField(
        blank=True,
        help_text=(
            "Hosts the cart may be returned to (BrowserFormPost or HOOK_URL) and that may frame the shop pages, "
            "one per line: localhost, 127.0.0.1, *.ariba.com, optionally with :port. Without a port any port "
            "is allowed. Empty: no return is possible."
        ),
    )
    cart_field = models.CharField(
        max_length=16,
        choices=CartField.choices,
        default=CartField.CXML_BASE64,
        help_text="Form field that carries the PunchOutOrderMessage back to the procurement system.",
    )
    allow_edit_inspect = models.BooleanField(
        "allow edit and inspect",
        default=True,
        help_text=(
            "Returned carts say operationAllowed=edit, and PunchOutSetupRequests with operation edit or inspect "
            "are accepted. Off: carts say create, and edit or inspect requests are rejected."
        ),
    )
    outbound_url = models.URLField(
        "outbound cXML URL",
        blank=True,
        max_length=500,
        help_text="Where order confirmations, ship notices and invoices for this buyer are posted.",
    )
    oci_vendor_number = models.CharField(
        "OCI VENDOR",
        max_length=10,
        blank=True,
        help_text="The buyer's business-partner number for this supplier, sent as NEW_ITEM-VENDOR.",
    )
    is_active = models.BooleanField("active", default=True)
    notes = models.TextField(blank=True)

    # The hashes stay out of the history rows. The *_set_at fields record when they changed.
    history = HistoricalRecords(excluded_fields=["shared_secret_hash", "oci_password_hash"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("sender_domain"),
                "sender_identity",
                condition=models.Q(protocol="cxml"),
                name="buyerconn_cxml_sender_uniq",
                violation_error_message="Another cXML connection already uses this Sender domain and identity.",
            ),
            models.UniqueConstraint(
                "oci_username",
                condition=models.Q(protocol="oci"),
                name="buyerconn_oci_username_uniq",
                violation_error_message="Another OCI connection already uses this USERNAME.",
            ),
            models.CheckConstraint(condition=models.Q(protocol__in=["cxml", "oci"]), name="buyerconn_protocol_valid"),
            models.CheckConstraint(
                condition=models.Q(cart_field__in=["cxml-urlencoded", "cxml-base64"]),
                name="buyerconn_cart_field_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(protocol="cxml")
                | (
                    ~models.Q(sender_domain="")
                    & ~models.Q(sender_identity="")
                    & ~models.Q(from_domain="")
                    & ~models.Q(from_identity="")
                    & ~models.Q(to_domain="")
                    & ~models.Q(to_identity="")
                ),
                name="buyerconn_cxml_credentials_set",
                violation_error_message="A cXML connection needs the From, To and Sender domain and identity.",
            ),
            models.CheckConstraint(
                condition=~models.Q(protocol="oci") | ~models.Q(oci_username=""),
                name="buyerconn_oci_username_set",
                violation_error_message="An OCI connection needs a USERNAME.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_protocol_display()})"

    def clean(self):
        super().clean()
        try:
            self.return_host_patterns()
        except ValueError as error:
            raise ValidationError({"allowed_return_hosts": str(error)}) from None
        if self.contract_id and self.customer_id and self.contract.customer_id != self.customer_id:
            raise ValidationError(
                {"contract": "The contract belongs to another customer; pick one of this customer's contracts."}
            )

    def set_shared_secret(self, value: str) -> None:
        """Store the keyed hash of a new cXML shared secret (the caller saves)."""
        self.shared_secret_hash = hash_secret(value)
        self.shared_secret_set_at = timezone.now()

    def set_oci_password(self, value: str) -> None:
        """Store the keyed hash of a new OCI password (the caller saves)."""
        self.oci_password_hash = hash_secret(value)
        self.oci_password_set_at = timezone.now()

    def return_host_patterns(self) -> list[HostPattern]:
        """Parse ``allowed_return_hosts``, skipping blank lines. Raises ValueError naming a bad line."""
        return [HostPattern.parse(line) for line in self.allowed_return_hosts.splitlines() if line.strip()]


class PunchOutSession(FSMModelMixin, TimeStampedModel):
    """One shopping visit opened by a buyer's procurement system, bound to a connection and a contract.

    The start page URL carries a random token; only its SHA-256 is stored.
    A session stays usable until ``expires_at``, also after a cart return, so
    the user can go back, change the cart and return it again. Each return
    sends a full PunchOutOrderMessage with the same BuyerCookie, which the
    procurement system takes as the new cart.
    """

    class Operation(models.TextChoices):
        CREATE = "create", "create"
        EDIT = "edit", "edit"
        INSPECT = "inspect", "inspect"
        # OCI FUNCTION=DETAIL: shows one product; nothing can be returned.
        DETAIL = "detail", "detail (OCI)"

    class State(models.TextChoices):
        OPEN = "open", "open"
        RETURNED = "returned", "cart returned"
        EXPIRED = "expired", "expired"

    connection = models.ForeignKey(BuyerConnection, on_delete=models.PROTECT, related_name="sessions")
    contract = models.ForeignKey("contracts.Contract", on_delete=models.PROTECT, related_name="punchout_sessions")
    # SHA-256 of the session token in the shop URLs. Empty (NULL) until the
    # start page is opened, which moves the user to a fresh token.
    token_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    # SHA-256 of the single-use StartPage token, cleared when it is used.
    start_token_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    start_expires_at = models.DateTimeField("start page usable until", null=True, blank=True)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    buyer_cookie = models.TextField(help_text="Echoed exactly in every PunchOutOrderMessage of the session.")
    browser_form_post_url = models.TextField("BrowserFormPost URL")
    deployment_mode = models.CharField(max_length=16, blank=True, help_text="production or test, as requested.")
    user_email = models.CharField(max_length=254, blank=True)
    ship_to = models.JSONField(default=dict, blank=True)
    extrinsics = models.JSONField(default=dict, blank=True)
    selected_item_part_id = models.CharField("SelectedItem SupplierPartID", max_length=255, blank=True)
    request_payload_id = models.CharField("request payloadID", max_length=255, blank=True)
    oci_form_fields = models.JSONField(
        "OCI HOOK_URL fields",
        default=list,
        blank=True,
        help_text="[name, value] pairs from the HOOK_URL query and the ~ fields, posted back with the cart.",
    )
    oci_target = models.CharField("OCI return target", max_length=100, blank=True)
    oci_charset = models.CharField("OCI http_content_charset", max_length=40, blank=True)
    notices = models.JSONField(default=list, blank=True, help_text="Messages for the user, shown on the shop pages.")
    state = FSMField(max_length=10, choices=State.choices, default=State.OPEN, protected=True)
    expires_at = models.DateTimeField(help_text="Idle deadline, moved forward while the user shops.")
    returned_at = models.DateTimeField(null=True, blank=True)
    return_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "PunchOut session"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["connection", "-created_at"], name="posession_conn_created_idx"),
            models.Index(fields=["state", "expires_at"], name="posession_state_expires_idx"),
            models.Index(fields=["request_payload_id"], name="posession_payload_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["open", "returned", "expired"]), name="posession_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(operation__in=["create", "edit", "inspect", "detail"]),
                name="posession_operation_valid_v2",
            ),
        ]

    def __str__(self) -> str:
        return f"PunchOut session {self.pk} ({self.connection_id}, {self.state})"

    def is_expired(self, now=None) -> bool:
        return self.state == self.State.EXPIRED or (now or timezone.now()) >= self.expires_at

    @property
    def is_read_only(self) -> bool:
        """Inspect and OCI detail sessions show the cart or a product but change and return nothing."""
        return self.operation in {self.Operation.INSPECT, self.Operation.DETAIL}

    @property
    def is_oci(self) -> bool:
        return self.connection.protocol == BuyerConnection.Protocol.OCI

    # A cart is returned once: the procurement system takes it as the cart
    # of the requisition, and changes go through a new edit session.
    @transition(field=state, source=State.OPEN, target=State.RETURNED)
    def return_cart(self) -> None:
        self.returned_at = timezone.now()
        self.return_count += 1

    @transition(field=state, source=[State.OPEN, State.RETURNED], target=State.EXPIRED)
    def expire(self) -> None:
        pass


class CartLine(TimeStampedModel):
    """One product and quantity in a PunchOut session's cart."""

    session = models.ForeignKey(PunchOutSession, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="punchout_cart_lines")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    line_number = models.PositiveIntegerField()
    # For lines loaded from an edit or inspect request: the price the buyer's
    # cart carried, shown beside the re-evaluated price.
    previous_unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    previous_currency = models.CharField(max_length=3, blank=True)
    # A line loaded from an accepted quote keeps the quote line's net price and quantity, and sends its
    # reference (QUOTE:<quote reference>:<line position>) back to the buyer.
    quote_line = models.ForeignKey(
        "quotes.QuoteLine", null=True, blank=True, on_delete=models.PROTECT, related_name="punchout_cart_lines"
    )
    quote_reference = models.CharField(
        max_length=64, blank=True, help_text="The quote line's reference, such as QUOTE:QT-261204-9F3A61C2-V2:1."
    )
    quoted_unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    quoted_currency = models.CharField(max_length=3, blank=True)

    class Meta:
        ordering = ["session", "line_number"]
        # Several lines may share a product: an edited cart keeps the buyer's
        # lines apart, because each may carry its own accounting.
        constraints = [
            models.UniqueConstraint(fields=["session", "line_number"], name="cartline_session_line_uniq"),
            models.CheckConstraint(condition=models.Q(quantity__gt=Decimal("0")), name="cartline_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(quote_line__isnull=True, quote_reference="", quoted_unit_price__isnull=True)
                | models.Q(quote_line__isnull=False, quoted_unit_price__isnull=False) & ~models.Q(quote_reference=""),
                name="cartline_quote_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line_number}: {self.product_id} x {self.quantity}"

    @property
    def cart_reference(self) -> str:
        """Our reference for the line in the session's cart, such as cartline-42."""
        return f"cartline-{self.pk}"

    @property
    def auxiliary_id(self) -> str:
        """The SupplierPartAuxiliaryID of the line, echoed back by edit, inspect and the purchase order.

        It is the quote line's reference for a line loaded from a quote, else the cart reference.
        """
        return self.quote_reference or self.cart_reference


class BuyerPartNumber(models.Model):
    """The buyer's own part number for one of our products, sent as BuyerPartID (cXML) or MATNR (OCI)."""

    connection = models.ForeignKey(BuyerConnection, on_delete=models.CASCADE, related_name="part_numbers")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="buyer_part_numbers")
    buyer_part_id = models.CharField("buyer part number", max_length=40)

    class Meta:
        ordering = ["connection", "buyer_part_id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "product"], name="buyerpart_conn_product_uniq"),
            models.UniqueConstraint(fields=["connection", "buyer_part_id"], name="buyerpart_conn_part_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.buyer_part_id} → {self.product_id}"


class BuyerUnit(models.Model):
    """The code a buyer's system uses for one of our units of measure, such as PCE for C62."""

    connection = models.ForeignKey(BuyerConnection, on_delete=models.CASCADE, related_name="units")
    unit = models.ForeignKey("catalog.UnitOfMeasure", on_delete=models.CASCADE, related_name="buyer_units")
    buyer_code = models.CharField(
        max_length=3, help_text="Sent as UnitOfMeasure (cXML) or NEW_ITEM-UNIT (OCI, at most 3 characters)."
    )

    class Meta:
        ordering = ["connection", "unit"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "unit"], name="buyerunit_conn_unit_uniq"),
            models.CheckConstraint(condition=~models.Q(buyer_code=""), name="buyerunit_code_set"),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} → {self.buyer_code}"


class LoginFailureWindow(models.Model):
    """Failed authentication attempts of one connection from one client address in the current window.

    A database row rather than a cache entry, so that every web process of
    every machine counts the same failures. Counting per client address
    keeps an attacker who knows the public Sender identity or USERNAME from
    locking out the buyer's own systems.
    """

    connection = models.ForeignKey(BuyerConnection, on_delete=models.CASCADE, related_name="login_failures")
    client_address = models.CharField(
        max_length=45,
        blank=True,
        default="",
        help_text="IPv4 address, or the /64 network of an IPv6 address, that the failed logins came from; "
        "empty when the address was unknown.",
    )
    window_started_at = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "client_address"], name="loginfailure_conn_address_uniq"),
        ]

    def __str__(self) -> str:
        source = self.client_address or "an unknown address"
        return f"{self.failures} failures from {source} since {self.window_started_at:%Y-%m-%d %H:%M:%S}"
