"""Admin for buyer connections (with write-only credential fields) and read-only PunchOut sessions."""

from django import forms
from django.contrib import admin
from django.utils import timezone

from apps.core.admin import CheckedHistoryAdmin
from apps.punchout.models import BuyerConnection, BuyerPartNumber, BuyerUnit, CartLine, PunchOutSession


class BuyerConnectionForm(forms.ModelForm):
    """Connection form whose credential fields only set a new value: the stored hash is never shown."""

    new_shared_secret = forms.CharField(
        label="Set new shared secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="cXML SharedSecret agreed with the buyer. Leave empty to keep the current one.",
    )
    new_oci_password = forms.CharField(
        label="Set new OCI password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="OCI PASSWORD agreed with the buyer. Leave empty to keep the current one.",
    )

    class Meta:
        model = BuyerConnection
        fields = [
            "name",
            "customer",
            "contract",
            "protocol",
            "is_active",
            "from_domain",
            "from_identity",
            "to_domain",
            "to_identity",
            "sender_domain",
            "sender_identity",
            "oci_username",
            "allowed_return_hosts",
            "cart_field",
            "allow_edit_inspect",
            "oci_vendor_number",
            "outbound_url",
            "notes",
        ]

    def clean_new_shared_secret(self) -> str:
        return _clean_credential(self.cleaned_data["new_shared_secret"], "shared secret")

    def clean_new_oci_password(self) -> str:
        return _clean_credential(self.cleaned_data["new_oci_password"], "OCI password")

    def save(self, commit: bool = True) -> BuyerConnection:
        connection = super().save(commit=False)
        if self.cleaned_data.get("new_shared_secret"):
            connection.set_shared_secret(self.cleaned_data["new_shared_secret"])
        if self.cleaned_data.get("new_oci_password"):
            connection.set_oci_password(self.cleaned_data["new_oci_password"])
        if commit:
            connection.save()
            self.save_m2m()
        return connection


def _clean_credential(value: str, label: str) -> str:
    if value and value != value.strip():
        raise forms.ValidationError(
            f"The {label} starts or ends with a space; remove it, or check that it was copied exactly."
        )
    return value


class BuyerPartNumberInline(admin.TabularInline):
    model = BuyerPartNumber
    extra = 0
    raw_id_fields = ["product"]
    verbose_name_plural = "buyer part numbers (sent as BuyerPartID and OCI MATNR)"


class BuyerUnitInline(admin.TabularInline):
    model = BuyerUnit
    extra = 0
    raw_id_fields = ["unit"]
    verbose_name_plural = "buyer unit codes (sent as UnitOfMeasure and OCI UNIT)"


@admin.register(BuyerConnection)
class BuyerConnectionAdmin(CheckedHistoryAdmin):
    form = BuyerConnectionForm
    inlines = [BuyerPartNumberInline, BuyerUnitInline]
    list_display = ["name", "customer", "protocol", "sender_domain", "sender_identity", "is_active", "secret_status"]
    list_filter = ["protocol", "is_active"]
    list_select_related = ["customer"]
    search_fields = ["name", "customer__account_number", "customer__name", "sender_identity", "oci_username"]
    raw_id_fields = ["customer", "contract"]
    readonly_fields = ["shared_secret_status", "oci_password_status", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "customer", "contract", "protocol", "is_active"]}),
        (
            "cXML credentials",
            {
                "fields": [
                    ("from_domain", "from_identity"),
                    ("to_domain", "to_identity"),
                    ("sender_domain", "sender_identity"),
                    "shared_secret_status",
                    "new_shared_secret",
                ]
            },
        ),
        (
            "OCI credentials",
            {"fields": ["oci_username", "oci_password_status", "new_oci_password", "oci_vendor_number"]},
        ),
        ("Cart return", {"fields": ["allowed_return_hosts", "cart_field", "allow_edit_inspect"]}),
        ("Outbound documents", {"fields": ["outbound_url"]}),
        (None, {"fields": ["notes", "created_at", "updated_at"]}),
    ]

    @admin.display(description="shared secret")
    def shared_secret_status(self, obj: BuyerConnection) -> str:
        return _credential_status(obj.shared_secret_hash, obj.shared_secret_set_at)

    @admin.display(description="OCI password")
    def oci_password_status(self, obj: BuyerConnection) -> str:
        return _credential_status(obj.oci_password_hash, obj.oci_password_set_at)

    @admin.display(description="secret", boolean=True)
    def secret_status(self, obj: BuyerConnection) -> bool:
        if obj.protocol == BuyerConnection.Protocol.OCI:
            return bool(obj.oci_password_hash)
        return bool(obj.shared_secret_hash)


def _credential_status(stored_hash: str, set_at) -> str:
    if not stored_hash:
        return "Not set: every request of this connection is rejected until one is set."
    if set_at is None:
        return "Set (date unknown)."
    return f"Set on {timezone.localtime(set_at):%Y-%m-%d %H:%M %Z}."


class CartLineInline(admin.TabularInline):
    model = CartLine
    fields = [
        "line_number",
        "product",
        "quantity",
        "previous_unit_price",
        "previous_currency",
        "quote_reference",
        "quoted_unit_price",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["line_number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PunchOutSession)
class PunchOutSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "connection", "customer", "state", "operation", "created_at", "expires_at", "returned_at"]
    list_filter = ["state", "operation", "connection"]
    list_select_related = ["connection", "connection__customer"]
    search_fields = ["buyer_cookie", "request_payload_id"]
    date_hierarchy = "created_at"
    inlines = [CartLineInline]
    fields = [
        "connection",
        "contract",
        "state",
        "operation",
        "buyer_cookie",
        "browser_form_post_url",
        "deployment_mode",
        "user_email",
        "ship_to",
        "extrinsics",
        "selected_item_part_id",
        "request_payload_id",
        "notices",
        "oci_target",
        "oci_charset",
        "created_at",
        "expires_at",
        "returned_at",
        "return_count",
    ]
    readonly_fields = fields

    @admin.display(description="customer", ordering="connection__customer__account_number")
    def customer(self, obj: PunchOutSession):
        return obj.connection.customer

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
