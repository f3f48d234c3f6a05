"""The quote admin for sales: header and lines edited through the services, the waterfall per line, transitions.

Every write goes through ``apps.quotes.services``: the forms only collect
values and show the services' errors. A quote is editable in draft and
approved state and in its newest version only. Otherwise the page is
read-only and offers the transitions the user may run. "My quotes" and
"Waiting for my approval" are filters of the list.
"""

import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django_fsm import can_proceed, has_transition_perm

from apps.catalog.models import Product
from apps.core.admin import CheckedHistoryAdmin
from apps.core.money import format_amount
from apps.core.nul import nul_message, nul_path
from apps.quotes import selectors, services
from apps.quotes.errors import QuoteError
from apps.quotes.models import Quote, QuoteLine, QuoteStatus
from apps.quotes.pdf import render_quote_pdf
from apps.quotes.pricing import LineRequest
from apps.quotes.services.approvals import current_step
from apps.quotes.services.editing import HEADER_FIELDS, check_new_quote, check_valid_until, price_requests

REASON_PAGE_TEMPLATE = "admin/quotes/quote/reason_page.html"
ACCEPT_PAGE_TEMPLATE = "admin/quotes/quote/accept_page.html"
COMPARE_TEMPLATE = "admin/quotes/quote/compare.html"


class InboxFilter(admin.SimpleListFilter):
    """The two working lists: the user's own quotes, and the quotes whose next approval is the user's."""

    title = "view"
    parameter_name = "inbox"

    def lookups(self, request, model_admin):
        return [("mine", "My quotes"), ("approval", "Waiting for my approval")]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(pk__in=selectors.my_quotes(request.user).values("pk"))
        if self.value() == "approval":
            return queryset.filter(pk__in=selectors.quotes_awaiting_approval_by(request.user).values("pk"))
        return queryset


class QuoteLineForm(forms.ModelForm):
    """A line's product, quantity, manual discount and configuration; the services price and check it."""

    configuration = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "quote-configuration-json"}),
        help_text='Option code to quantity, such as {"mem-32g": 4}; the editor below fills it in.',
    )

    class Meta:
        model = QuoteLine
        fields = ["product", "quantity", "discount_percent", "configuration"]

    quote: Quote | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["configuration"] = (
                json.dumps(self.instance.configuration) if self.instance.configuration else ""
            )

    def clean_configuration(self):
        text = (self.cleaned_data.get("configuration") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError(
                'The configuration is not valid JSON; write it as {"option-code": quantity}.'
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Write the configuration as an object, such as {"mem-32g": 4}.')
        path = nul_path(value)
        if path is not None:
            raise forms.ValidationError(nul_message(f"The configuration's option {path!r}"))
        return value

    def clean(self):
        cleaned = super().clean()
        product = cleaned.get("product")
        if self.quote is None or product is None or self.errors or cleaned.get("DELETE"):
            return cleaned
        request = LineRequest(
            product=product,
            quantity=cleaned.get("quantity"),
            configuration=cleaned.get("configuration"),
            discount_percent=cleaned.get("discount_percent") if cleaned.get("discount_percent") is not None else 0,
        )
        (priced,) = price_requests(self.quote, [request])
        for problem in priced.problems():
            self.add_error(None, problem)
        return cleaned


class QuoteLineInline(admin.StackedInline):
    model = QuoteLine
    form = QuoteLineForm
    extra = 0
    autocomplete_fields = ["product"]
    readonly_fields = ["waterfall"]
    fields = ["product", "quantity", "discount_percent", "configuration", "waterfall"]
    classes = ["quote-lines"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type("BoundQuoteLineForm", (formset.form,), {"quote": obj})
        return formset

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is not None and not obj.lines.exists() else 0

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.is_editable)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or obj.is_editable)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_editable)

    @admin.display(description="price waterfall (per unit)")
    def waterfall(self, line):
        if line is None or line.pk is None:
            return "Priced when saved."
        currency = line.quote.currency

        def money(value):
            return "—" if value is None else format_amount(value, currency)

        rows = [
            ("List price", money(line.list_price)),
            (f"Contract price ({line.price_source.replace('_', ' ')})", money(line.contract_price)),
            ("Configuration adders", money(line.adders)),
            (f"Manual discount ({line.discount_percent.normalize():f} %)", f"-{money(line.discount_amount)}"),
            ("Net price", money(line.net_price)),
            (f"Line total ({line.quantity.normalize():f} units)", money(line.line_total)),
            ("Cost", money(line.cost_total)),
            (
                "Margin",
                "unknown (a cost is missing)"
                if line.margin is None
                else f"{money(line.margin)} ({line.margin_percent} %)",
            ),
        ]
        table = format_html_join("", "<tr><th>{}</th><td class='quote-amount'>{}</td></tr>", rows)
        options = format_html_join(
            "",
            "<li>{} x {}: {} {}</li>",
            ((item["quantity"], item["name"], item["unit_price"], currency) for item in line.configuration_detail),
        )
        return format_html(
            '<table class="quote-waterfall">{}</table>{}',
            table,
            format_html("<ul class='quote-options'>{}</ul>", options) if line.configuration_detail else "",
        )


class QuoteHeaderForm(forms.ModelForm):
    class Meta:
        model = Quote
        fields = ["customer", *HEADER_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("valid_until")
        if field is not None and self.instance.pk is None:
            # The service picks the default validity when the sales person leaves the date empty.
            field.required = False
            field.help_text = (
                "Last day the customer can accept the quote. Leave it empty for QUOTE_VALIDITY_DAYS "
                "(30 unless set) from today."
            )

    def clean(self):
        cleaned = super().clean()
        valid_until = cleaned.get("valid_until")
        try:
            if self.instance.pk is None:
                check_new_quote(customer=cleaned.get("customer"), valid_until=valid_until)
            elif valid_until is not None and "valid_until" in self.changed_data:
                check_valid_until(valid_until)
        except QuoteError as error:
            raise forms.ValidationError(error.message) from None
        return cleaned


class AcceptForm(forms.Form):
    """The customer's acceptance as staff record it: the PO number and how the order will come."""

    NOW = "now"
    BY_PURCHASE_ORDER = "by_purchase_order"

    po_number = forms.CharField(
        label="Customer's PO number",
        max_length=64,
        required=False,
        help_text="The order carries it; leave it empty when the customer gave none.",
    )
    order = forms.ChoiceField(
        label="Order",
        choices=[
            (NOW, "Create the order now"),
            (
                BY_PURCHASE_ORDER,
                "The buyer orders through its procurement system: keep the quote accepted, "
                "so that it can load into the PunchOut cart and its purchase order is matched to it",
            ),
        ],
        initial=NOW,
        widget=forms.RadioSelect,
    )


class PricesOutOfDateFilter(admin.SimpleListFilter):
    title = "prices"
    parameter_name = "prices"

    def lookups(self, request, model_admin):
        return [("out_of_date", "out of date after a contract change"), ("current", "current")]

    def queryset(self, request, queryset):
        if self.value() == "out_of_date":
            return queryset.filter(prices_out_of_date_since__isnull=False)
        if self.value() == "current":
            return queryset.filter(prices_out_of_date_since__isnull=True)
        return queryset


@admin.register(Quote)
class QuoteAdmin(CheckedHistoryAdmin):
    form = QuoteHeaderForm
    list_display = [
        "reference",
        "customer",
        "sales_person",
        "status",
        "total_display",
        "margin_percent",
        "valid_until",
        "is_current_version",
        "prices_out_of_date",
    ]
    list_filter = [InboxFilter, "status", "is_current_version", PricesOutOfDateFilter]
    list_select_related = ["customer", "sales_person"]
    search_fields = ["number", "customer__account_number", "customer__name", "crm_opportunity"]
    autocomplete_fields = ["customer"]
    inlines = [QuoteLineInline]
    show_full_result_count = False
    change_form_template = "admin/quotes/quote/change_form.html"
    change_list_template = "admin/quotes/quote/change_list.html"

    class Media:
        css = {"all": ["quotes/configurator.css"]}
        js = ["quotes/configurator.js"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "contract", "sales_person", "order")

    @admin.display(boolean=True, description="prices out of date", ordering="prices_out_of_date_since")
    def prices_out_of_date(self, quote: Quote) -> bool:
        return quote.prices_out_of_date_since is not None

    def get_inlines(self, request, obj):
        # A new quote is created from its header first; lines are added on the next page.
        return self.inlines if obj is not None else []

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["customer", *HEADER_FIELDS]})]
        return [
            (
                None,
                {"fields": ["reference_display", "status", "status_reason", "customer", "contract", "sales_person"]},
            ),
            ("Offer", {"fields": list(HEADER_FIELDS)}),
            ("Totals", {"fields": ["totals_display"]}),
            ("Approvals", {"fields": ["approvals_display"]}),
            (
                "Versions and order",
                {
                    "fields": [
                        "versions_display",
                        "order_link",
                        "customer_po_number",
                        "price_date",
                        "prices_out_of_date_since",
                    ]
                },
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        computed = ["reference_display", "totals_display", "approvals_display", "versions_display", "order_link"]
        if obj is None:
            return []
        fixed = [
            "status",
            "status_reason",
            "customer",
            "contract",
            "sales_person",
            "customer_po_number",
            "price_date",
            "prices_out_of_date_since",
        ]
        if not obj.is_editable:
            fixed += list(HEADER_FIELDS)
        return [*computed, *fixed]

    def has_change_permission(self, request, obj=None):
        # Quotes past approval, and old versions, are kept as they are; the page shows them read-only.
        return super().has_change_permission(request, obj) and (obj is None or obj.is_editable)

    def has_delete_permission(self, request, obj=None):
        return False

    # Saving goes through the services, inside the admin's transaction; a domain error rolls it all back.

    def save_model(self, request, obj, form, change):
        try:
            if change:
                changed = {name: form.cleaned_data[name] for name in form.changed_data if name in HEADER_FIELDS}
                if changed:
                    services.quote_update(quote=obj, actor=request.user, **changed)
                return
            created = services.quote_create(
                actor=request.user,
                customer=form.cleaned_data["customer"],
                **{name: form.cleaned_data[name] for name in HEADER_FIELDS if form.cleaned_data.get(name)},
            )
        except QuoteError as error:
            self._fail(request, error)
            return
        obj.__dict__.update({key: value for key, value in created.__dict__.items() if key != "_state"})
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        if formset.model is not QuoteLine:
            return super().save_formset(request, form, formset, change)
        # The admin's change message reads these lists, which formset.save() would have filled.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            for line_form in formset.deleted_forms:
                if line_form.instance.pk:
                    services.quote_remove_line(line=line_form.instance, actor=request.user)
            for line_form in formset.forms:
                if line_form in formset.deleted_forms or not line_form.has_changed():
                    continue
                data = line_form.cleaned_data
                if not data or data.get("product") is None:
                    continue
                self._save_line(request, form.instance, line_form, data)
        except QuoteError as error:
            self._fail(request, error)
        return None

    def save_related(self, request, form, formsets, change):
        form.save_m2m()
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def _save_line(self, request, quote, line_form, data):
        discount = data.get("discount_percent")
        discount = 0 if discount is None else discount
        if line_form.instance.pk:
            services.quote_change_line(
                line=line_form.instance,
                actor=request.user,
                quantity=data["quantity"],
                configuration=data["configuration"],
                discount_percent=discount,
            )
        else:
            services.quote_add_line(
                quote=quote,
                actor=request.user,
                product=data["product"],
                quantity=data["quantity"],
                configuration=data["configuration"],
                discount_percent=discount,
            )

    def _fail(self, request, error: QuoteError) -> None:
        transaction.set_rollback(True)
        self.message_user(request, f"Nothing was saved: {error.message}", messages.ERROR)

    # Read-only displays.

    @admin.display(description="quote")
    def reference_display(self, quote):
        return quote.reference

    @admin.display(description="total", ordering="total")
    def total_display(self, quote):
        return f"{format_amount(quote.total, quote.currency)} {quote.currency}"

    @admin.display(description="totals")
    def totals_display(self, quote):
        currency = quote.currency
        discount = quote.discount_percent
        rows = [
            ("Before manual discounts", format_amount(quote.gross_total, currency)),
            (
                "Manual discounts",
                f"{format_amount(quote.discount_total, currency)}"
                + (f" ({discount.quantize(Decimal('0.01'))} %)" if discount is not None else ""),
            ),
            (f"Total ({currency}, excluding tax)", format_amount(quote.total, currency)),
            ("Tax", format_amount(quote.tax_total, currency)),
            (f"Total ({currency}, including tax)", format_amount(quote.total + quote.tax_total, currency)),
            ("Cost", "unknown" if quote.cost_total is None else format_amount(quote.cost_total, currency)),
            (
                "Margin",
                "unknown"
                if quote.margin is None
                else f"{format_amount(quote.margin, currency)} ({quote.margin_percent} %)",
            ),
        ]
        return format_html(
            '<table class="quote-waterfall">{}</table>',
            format_html_join("", "<tr><th>{}</th><td class='quote-amount'>{}</td></tr>", rows),
        )

    @admin.display(description="approvals")
    def approvals_display(self, quote):
        approvals = list(quote.approvals.select_related("group", "decided_by").order_by("sequence", "id"))
        if not approvals:
            required = services.approvals_required(quote=quote) if quote.is_editable else []
            if not required:
                return "No approval is needed for these figures."
            return format_html(
                "Submitting will ask {}.",
                ", then ".join(f"{requirement.group_name} ({requirement.summary()})" for requirement in required),
            )
        rows = (
            (
                approval.sequence,
                approval.group.name,
                approval.get_status_display(),
                approval.decided_by.get_username() if approval.decided_by else "",
                approval.note,
                "; ".join(finding["message"] for finding in approval.findings),
            )
            for approval in approvals
        )
        return format_html(
            '<table class="quote-approvals"><tr><th>Step</th><th>Group</th><th>Status</th><th>By</th>'
            "<th>Note</th><th>Why</th></tr>{}</table>",
            format_html_join(
                "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
            ),
        )

    @admin.display(description="versions")
    def versions_display(self, quote):
        versions = Quote.objects.filter(number=quote.number).order_by("version").only("pk", "version", "status")
        items = []
        for version in versions:
            change_url = reverse("admin:quotes_quote_change", args=[version.pk])
            if version.pk == quote.pk:
                items.append(format_html("<li>V{} ({}, this page)</li>", version.version, version.get_status_display()))
                continue
            compare_url = reverse("admin:quotes_quote_compare", args=[version.pk, quote.pk])
            items.append(
                format_html(
                    '<li><a href="{}">V{}</a> ({}) · <a href="{}">what changed</a></li>',
                    change_url,
                    version.version,
                    version.get_status_display(),
                    compare_url,
                )
            )
        return format_html("<ul>{}</ul>", format_html_join("", "{}", ((item,) for item in items)))

    @admin.display(description="order")
    def order_link(self, quote):
        if quote.order is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[quote.order_id]), quote.order.number
        )

    # Extra pages: transitions, price refresh, PDF, version comparison, the configuration guide.

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("configuration-guide/", view(self.guide_view), name=f"{prefix}_configuration_guide"),
            path("<path:object_id>/transition/<str:name>/", view(self.transition_view), name=f"{prefix}_transition"),
            path("<path:object_id>/refresh-prices/", view(self.refresh_view), name=f"{prefix}_refresh"),
            path("<path:object_id>/pdf/", view(self.pdf_view), name=f"{prefix}_pdf"),
            path("<path:older_id>/compare/<path:newer_id>/", view(self.compare_view), name=f"{prefix}_compare"),
            *super().get_urls(),
        ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        quote = self.get_object(request, unquote(object_id)) if object_id else None
        if quote is not None:
            extra_context.update(
                transition_buttons=self.transition_buttons(request, quote),
                stale_prices=selectors.stale_prices(quote) if quote.is_editable else [],
                can_refresh=quote.is_editable and request.user.has_perm("quotes.change_quote"),
                pdf_url=reverse("admin:quotes_quote_pdf", args=[quote.pk]),
                refresh_url=reverse("admin:quotes_quote_refresh", args=[quote.pk]),
            )
        extra_context["guide_url"] = reverse("admin:quotes_quote_configuration_guide")
        return super().changeform_view(request, object_id, form_url, extra_context)

    def transition_buttons(self, request, quote: Quote) -> list[dict]:
        """Return a button for each transition the quote's state allows and the user holds."""
        buttons = []
        for name in services.STAFF_TRANSITIONS:
            method = getattr(quote, name)
            if not (can_proceed(method) and has_transition_perm(method, request.user)):
                continue
            if name in ("approve", "reject") and not self._may_decide(request, quote):
                continue
            transition = method._django_fsm.get_transition(quote.status)
            buttons.append(
                {
                    "name": name,
                    "label": transition.custom.get("label", name),
                    "url": reverse("admin:quotes_quote_transition", args=[quote.pk, name]),
                    "needs_page": transition.custom.get("reason", False) or name == "accept",
                }
            )
        return buttons

    def _may_decide(self, request, quote: Quote) -> bool:
        step = current_step(quote)
        return (
            step is not None
            and request.user.pk != quote.sales_person_id
            and request.user.groups.filter(pk=step.group_id).exists()
        )

    def _quote_or_404(self, request, object_id) -> Quote:
        if not self.has_view_permission(request):
            raise PermissionDenied
        quote = self.get_object(request, unquote(object_id))
        if quote is None:
            raise Http404(f"No quote has the id {object_id!r}.")
        return quote

    def transition_view(self, request, object_id, name):
        quote = self._quote_or_404(request, object_id)
        if name not in services.STAFF_TRANSITIONS:
            raise Http404(f"{name!r} is not a quote transition.")
        if name == "accept":
            return self._accept(request, quote)
        needs_reason = name in ("reject", "decline")
        if request.method == "GET" and needs_reason:
            return self._reason_page(request, quote, name, forms.Form())
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        reason = (request.POST.get("reason") or "").strip()
        if name == "reject" and not reason:
            self.message_user(request, "Give a reason to reject the quote.", messages.ERROR)
            return self._reason_page(request, quote, name, forms.Form())
        try:
            result = services.quote_transition(quote=quote, name=name, actor=request.user, reason=reason)
        except QuoteError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(self._change_url(quote))
        self._report_transition(request, result)
        return HttpResponseRedirect(self._change_url(result))

    def _accept(self, request, quote: Quote):
        """Ask for the customer's PO number and whether the order is made now or comes from the buyer's system."""
        form = AcceptForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.quote_accept(
                    quote=quote,
                    actor=request.user,
                    po_number=form.cleaned_data["po_number"],
                    convert=form.cleaned_data["order"] == AcceptForm.NOW,
                )
            except QuoteError as error:
                self.message_user(request, error.message, messages.ERROR)
                return HttpResponseRedirect(self._change_url(quote))
            self._report_transition(request, result)
            return HttpResponseRedirect(self._change_url(result))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "quote": quote,
            "form": form,
            "title": f"Mark accepted: quote {quote.reference}",
            "action_url": reverse("admin:quotes_quote_transition", args=[quote.pk, "accept"]),
            "cancel_url": self._change_url(quote),
        }
        return TemplateResponse(request, ACCEPT_PAGE_TEMPLATE, context)

    def _report_transition(self, request, result: Quote) -> None:
        message = f"Quote {result.reference} is now {result.get_status_display()}."
        if result.order_id:
            message += f" Order {result.order.number} was created."
        elif result.status == QuoteStatus.ACCEPTED:
            message += " It waits for the buyer's purchase order, or for Convert to order."
        self.message_user(request, message, messages.SUCCESS)

    def _reason_page(self, request, quote, name, form):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "quote": quote,
            "title": f"{'Reject' if name == 'reject' else 'Mark declined'}: quote {quote.reference}",
            "action_url": reverse("admin:quotes_quote_transition", args=[quote.pk, name]),
            "required": name == "reject",
            "submit_label": "Reject" if name == "reject" else "Mark declined",
            "cancel_url": self._change_url(quote),
        }
        return TemplateResponse(request, REASON_PAGE_TEMPLATE, context)

    def refresh_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        quote = self._quote_or_404(request, object_id)
        try:
            quote = services.quote_refresh_prices(quote=quote, actor=request.user)
        except QuoteError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(
                request, f"Prices of quote {quote.reference} are now those of {quote.price_date.isoformat()}."
            )
        return HttpResponseRedirect(self._change_url(quote))

    def pdf_view(self, request, object_id):
        quote = self._quote_or_404(request, object_id)
        response = HttpResponse(render_quote_pdf(quote), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="quote-{quote.reference}.pdf"'
        return response

    def compare_view(self, request, older_id, newer_id):
        older = self._quote_or_404(request, older_id)
        newer = self._quote_or_404(request, newer_id)
        if older.number != newer.number:
            raise Http404("Only versions of the same quote can be compared.")
        if older.version > newer.version:
            older, newer = newer, older
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Quote {older.number}: version {older.version} → version {newer.version}",
            "older": older,
            "newer": newer,
            "changes": selectors.version_changes(older, newer),
        }
        return TemplateResponse(request, COMPARE_TEMPLATE, context)

    def guide_view(self, request):
        """Return guided selling for a product and partial configuration as JSON, for the line editor."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        raw_product = request.GET.get("product", "")
        if not raw_product.isdigit():
            return JsonResponse({"configurable": False, "error": "Choose a product."}, status=400)
        product = Product.objects.filter(pk=int(raw_product)).first()
        if product is None:
            return JsonResponse({"configurable": False, "error": f"Product {raw_product} does not exist."}, status=404)
        try:
            configuration = json.loads(request.GET.get("configuration") or "{}")
        except ValueError:
            configuration = request.GET.get("configuration")
        try:
            guidance = services.configuration_guide(product=product, configuration=configuration)
        except QuoteError:
            return JsonResponse({"configurable": False, "product": product.sku})
        return JsonResponse({"configurable": True, "product": product.sku, **guidance.as_dict()})

    def _change_url(self, quote: Quote) -> str:
        return reverse("admin:quotes_quote_change", args=[quote.pk])
