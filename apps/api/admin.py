"""Admin pages for partners, their API keys (shown once at creation, revoked here) and webhooks."""

from django import forms
from django.contrib import admin, messages

from apps.api import keys
from apps.api.models import ApiKey, Partner, Scope, WebhookAttempt, WebhookDelivery, WebhookSubscription
from apps.core.admin import HistoryModelAdmin


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["name", "prefix", "scopes", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        # Keys are created on their own page, which shows the new key once.
        return False


@admin.register(Partner)
class PartnerAdmin(HistoryModelAdmin):
    list_display = ["name", "all_customers", "is_active", "requests_per_minute"]
    list_filter = ["is_active", "all_customers"]
    search_fields = ["name", "customers__account_number"]
    filter_horizontal = ["customers"]
    inlines = [ApiKeyInline]
    history_delta_excluded_fields = ("customers",)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["partner", "name", "scopes", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(HistoryModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "partner", "prefix", "scope_list", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["partner", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["partner"]
    search_fields = ["name", "prefix", "partner__name"]
    readonly_fields = ["prefix", "last_used_at", "revoked_at", "revoked_by", "created_by", "created_at"]
    actions = ["revoke_keys"]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # A key's partner never changes; revoke it and create another instead.
            return [*self.readonly_fields, "partner"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            obj.scopes = keys.validate_scopes(form.cleaned_data["scopes"])
            obj._history_user = request.user
            super().save_model(request, obj, form, change)
            return
        created, raw_key = keys.api_key_create(
            partner=form.cleaned_data["partner"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data.get("expires_at"),
            actor=request.user,
        )
        obj.pk = created.pk
        obj.__dict__.update({name: getattr(created, name) for name in ("prefix", "key_hash", "created_at")})
        self.message_user(
            request,
            f"The new API key is {raw_key} . Copy it now and give it to the partner: it is not shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        count = 0
        for api_key in queryset:
            if api_key.revoked_at is None:
                keys.api_key_revoke(api_key=api_key, actor=request.user, reason="Revoked in the admin")
                count += 1
        self.message_user(request, f"{count} key(s) revoked; requests with them are rejected from now on.")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "response_code", "error", "duration_ms", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(HistoryModelAdmin):
    list_display = ["partner", "url", "is_active", "disabled_at", "created_at"]
    list_filter = ["is_active", "partner"]
    list_select_related = ["partner"]
    search_fields = ["url", "partner__name"]
    fields = ["partner", "url", "events", "description", "is_active", "disabled_at", "disabled_reason"]
    readonly_fields = ["partner", "url", "disabled_at", "disabled_reason"]

    def has_add_permission(self, request):
        # Partners subscribe through the API, which returns the signing secret to them.
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_id", "event", "subscription", "status", "attempts", "response_code", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["subscription", "subscription__partner"]
    search_fields = ["event_id"]
    inlines = [WebhookAttemptInline]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
