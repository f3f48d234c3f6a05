"""The exception case queue and the routing rules in the admin.

A user sees and acts only on the cases of their teams (and of the groups
cases escalated to) unless they are a superuser. Every action goes through
the services, which check the transition permission and team membership
again; their errors become messages naming the case and the cause.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm import can_proceed

from apps.core.admin import CheckedHistoryAdmin, EstimatedCountPaginator
from apps.exceptions import services
from apps.exceptions.admin_display import concerning_html, facts_html, timeline_html
from apps.exceptions.admin_filters import AssigneeFilter, CustomerAccountFilter, OverdueFilter, StateFilter, TeamFilter
from apps.exceptions.errors import ExceptionsError
from apps.exceptions.models import ACTIVE_STATES, CaseKind, ExceptionCase, RoutingRule
from apps.exceptions.registry import current_facts_for, get_resolution, resolutions_for
from apps.exceptions.routing import team_members
from apps.exceptions.selectors import cases_visible_to, queue_summary

# The admin index shows the user's queue above the app list.
if admin.site.index_template is None:
    admin.site.index_template = "admin/exceptions/index.html"

ACTION_PAGE_TEMPLATE = "admin/exceptions/exceptioncase/action_page.html"


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, label="Assign to", empty_label=None)

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = team_members(team)
        self.fields["assignee"].label_from_instance = lambda user: user.get_full_name() or user.get_username()


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(label="Resolution", widget=forms.RadioSelect)
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)

    def __init__(self, *args, resolutions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resolution"].choices = [(action.name, action.label) for action in resolutions]


class DismissForm(forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


@admin.register(ExceptionCase)
class ExceptionCaseAdmin(CheckedHistoryAdmin):
    list_display = [
        "case_number",
        "kind",
        "summary",
        "reference",
        "customer_display",
        "severity",
        "state",
        "team",
        "assignee",
        "due_display",
    ]
    list_display_links = ["case_number"]
    list_filter = [StateFilter, "kind", TeamFilter, AssigneeFilter, OverdueFilter, "severity", CustomerAccountFilter]
    list_select_related = ["team", "assignee"]
    list_per_page = 50
    ordering = ["due_at", "id"]
    # Big result sets get an estimated count for the page links. The "of N in
    # total" count is turned off because it runs a second COUNT(*) over every visible case.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # get_search_results below decides what the search box matches; this
    # entry only makes the admin show the box.
    search_fields = ["reference"]
    search_help_text = "Start of an order, quote or PO number, a SKU, a customer account or customer name."
    actions = ["take_cases", "assign_cases", "resolve_cases", "dismiss_cases"]
    fieldsets = [
        (None, {"fields": ["kind", "summary", "state", "severity", "blocking", "team", "assignee"]}),
        ("Due time", {"fields": ["due_at", "overdue", "escalation_display"]}),
        ("Concerns", {"fields": ["concerning_display", "reference", "po_number", "sku", "customer_display"]}),
        ("Facts", {"fields": ["facts_display", "current_facts_display"]}),
        ("Resolution", {"fields": ["resolution_display", "resolution_note", "resolved_by", "resolved_at"]}),
        ("History", {"fields": ["timeline_display"]}),
    ]
    readonly_fields = [
        "kind",
        "summary",
        "state",
        "severity",
        "blocking",
        "team",
        "assignee",
        "due_at",
        "overdue",
        "escalation_display",
        "concerning_display",
        "reference",
        "po_number",
        "sku",
        "customer_display",
        "facts_display",
        "current_facts_display",
        "resolution_display",
        "resolution_note",
        "resolved_by",
        "resolved_at",
        "timeline_display",
    ]

    # Scope and permissions

    def get_queryset(self, request):
        return cases_visible_to(request.user).select_related("team", "assignee")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Cases change only through the actions, never through the form.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_take_permission(self, request):
        return request.user.has_perm("exceptions.take_exceptioncase")

    def has_assign_permission(self, request):
        return request.user.has_perm("exceptions.assign_exceptioncase")

    def has_resolve_permission(self, request):
        return request.user.has_perm("exceptions.resolve_exceptioncase")

    def has_dismiss_permission(self, request):
        return request.user.has_perm("exceptions.dismiss_exceptioncase")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Prefix matches only, which the expression indexes serve on PostgreSQL.
        matches = (
            _prefix("reference", term)
            | _prefix("po_number", term)
            | _prefix("sku", term)
            | _prefix("customer_account", term)
            | _prefix("customer_name", term)
        )
        return queryset.filter(matches), False

    # List and change page columns

    @admin.display(description="case", ordering="id")
    def case_number(self, case):
        return f"#{case.pk}"

    @admin.display(description="customer", ordering="customer_account")
    def customer_display(self, case):
        return f"{case.customer_account} {case.customer_name}".strip() or "—"

    @admin.display(description="due", ordering="due_at")
    def due_display(self, case):
        due = f"{case.due_at:%Y-%m-%d %H:%M}"
        late = case.overdue or (case.state in ACTIVE_STATES and case.due_at <= timezone.now())
        if not late:
            return due
        escalated = " · escalated" if case.escalation_level else ""
        return format_html(
            '{} <strong class="errornote-inline" style="color:#ba2121">overdue{}</strong>', due, escalated
        )

    @admin.display(description="escalation")
    def escalation_display(self, case):
        if not case.escalation_level:
            return f"to {case.escalation_group.name} at {case.escalate_at:%Y-%m-%d %H:%M} UTC if still open"
        return f"level {case.escalation_level}, to {case.escalation_group.name}"

    @admin.display(description="object")
    def concerning_display(self, case):
        return concerning_html(case)

    @admin.display(description="facts")
    def facts_display(self, case):
        return facts_html(case.facts)

    @admin.display(description="now")
    def current_facts_display(self, case):
        current = current_facts_for(case)
        return facts_html(current) if current else "—"

    @admin.display(description="action taken")
    def resolution_display(self, case):
        if not case.resolution_action:
            return "—"
        try:
            return get_resolution(case.kind, case.resolution_action).label
        except ExceptionsError:
            return case.resolution_action

    @admin.display(description="history")
    def timeline_display(self, case):
        return timeline_html(case)

    # Queue page and change page

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "queue": queue_summary(request.user), "kind_labels": _kind_labels()}
        return super().changelist_view(request, extra_context=extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self.get_object(request, unquote(object_id))
        buttons = self._object_buttons(request, case) if case is not None else []
        extra_context = {**(extra_context or {}), "case_buttons": buttons}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def history_view(self, request, object_id, extra_context=None):
        # The parent view falls back to the history table for objects outside
        # get_queryset, which would show other teams' cases.
        self._get_visible_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context=extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._get_visible_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context=extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        views = [
            ("take", self.take_view),
            ("assign", self.assign_view),
            ("resolve", self.resolve_view),
            ("dismiss", self.dismiss_view),
        ]
        urls = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(view), name=f"%s_%s_{name}" % info)
            for name, view in views
        ]
        return urls + super().get_urls()

    def _object_buttons(self, request, case):
        if not services.can_act_on(request.user, case):
            return []
        candidates = [
            ("take", "Take", case.take, self.has_take_permission),
            ("assign", "Assign", case.assign, self.has_assign_permission),
            ("resolve", "Resolve", case.resolve, self.has_resolve_permission),
            ("dismiss", "Dismiss", case.dismiss, self.has_dismiss_permission),
        ]
        info = self.opts.app_label, self.opts.model_name
        return [
            {"label": label, "url": reverse(f"admin:%s_%s_{name}" % info, args=[case.pk])}
            for name, label, transition, has_permission in candidates
            if has_permission(request) and can_proceed(transition)
        ]

    def _get_visible_or_404(self, request, object_id) -> ExceptionCase:
        case = self.get_object(request, unquote(object_id))
        if case is None:
            raise Http404(f"No exception case {object_id} in your teams' queues.")
        return case

    # Per-case views behind the change page's buttons

    def take_view(self, request, object_id):
        if not self.has_take_permission(request):
            raise PermissionDenied
        case = self._get_visible_or_404(request, object_id)
        if request.method != "POST":
            return self._render_page(request, [case], title="Take this case?", form=None, submit="Take", step="confirm")
        self._run_each(request, [case], lambda c: services.case_take(case=c, actor=request.user), "taken")
        return HttpResponseRedirect(self._change_url(case))

    def assign_view(self, request, object_id):
        if not self.has_assign_permission(request):
            raise PermissionDenied
        case = self._get_visible_or_404(request, object_id)
        response = self._assign_flow(request, [case])
        return response or HttpResponseRedirect(self._change_url(case))

    def resolve_view(self, request, object_id):
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        case = self._get_visible_or_404(request, object_id)
        response = self._resolve_flow(request, [case])
        return response or HttpResponseRedirect(self._change_url(case))

    def dismiss_view(self, request, object_id):
        if not self.has_dismiss_permission(request):
            raise PermissionDenied
        case = self._get_visible_or_404(request, object_id)
        response = self._dismiss_flow(request, [case])
        return response or HttpResponseRedirect(self._change_url(case))

    # Changelist actions; the queryset is already limited to visible cases.

    @admin.action(description="Take the selected cases", permissions=["take"])
    def take_cases(self, request, queryset):
        cases = list(queryset.order_by("pk"))
        self._run_each(request, cases, lambda c: services.case_take(case=c, actor=request.user), "taken")

    @admin.action(description="Assign the selected cases to a colleague", permissions=["assign"])
    def assign_cases(self, request, queryset):
        return self._assign_flow(request, list(queryset.order_by("pk")), via_action="assign_cases")

    @admin.action(description="Resolve the selected cases", permissions=["resolve"])
    def resolve_cases(self, request, queryset):
        return self._resolve_flow(request, list(queryset.order_by("pk")), via_action="resolve_cases")

    @admin.action(description="Dismiss the selected cases with a reason", permissions=["dismiss"])
    def dismiss_cases(self, request, queryset):
        return self._dismiss_flow(request, list(queryset.order_by("pk")), via_action="dismiss_cases")

    # Flows shared by the actions and the per-case views. Each returns a page
    # to show, or None once it has run (or refused with a message).

    def _assign_flow(self, request, cases, via_action=None):
        teams = {case.team for case in cases}
        if len(teams) > 1:
            names = ", ".join(sorted(team.name for team in teams))
            self.message_user(
                request,
                f"Cases of several teams ({names}) cannot be assigned together; filter by team first.",
                messages.ERROR,
            )
            return None
        team = teams.pop()
        submitted = request.POST.get("_step") == "confirm"
        form = AssignForm(request.POST if submitted else None, team=team)
        if submitted and form.is_valid():
            assignee = form.cleaned_data["assignee"]
            self._run_each(
                request,
                cases,
                lambda c: services.case_assign(case=c, assignee=assignee, actor=request.user),
                f"assigned to {assignee.get_username()}",
            )
            return None
        return self._render_page(
            request,
            cases,
            title=f"Assign to a member of {team.name}",
            form=form,
            submit="Assign",
            via_action=via_action,
        )

    def _resolve_flow(self, request, cases, via_action=None):
        kinds = {case.kind for case in cases}
        if len(kinds) > 1:
            labels = ", ".join(sorted(CaseKind(kind).label for kind in kinds))
            self.message_user(
                request,
                f"Cases of different kinds ({labels}) cannot be resolved together, because each kind has its own "
                "resolutions; filter by kind first.",
                messages.ERROR,
            )
            return None
        kind = kinds.pop()
        resolutions = resolutions_for(kind)
        if not resolutions:
            self.message_user(
                request,
                f"No resolution is available for {CaseKind(kind).label} cases yet; dismiss them with a reason instead.",
                messages.ERROR,
            )
            return None

        step = request.POST.get("_step")
        form = ResolveForm(request.POST if step else None, resolutions=resolutions)
        if step and form.is_valid():
            resolution = get_resolution(kind, form.cleaned_data["resolution"])
            note = form.cleaned_data["note"]
            if step == "confirm":
                self._run_each(
                    request,
                    cases,
                    lambda c: services.case_resolve(case=c, action=resolution.name, note=note, actor=request.user),
                    f"resolved ({resolution.label})",
                )
                return None
            descriptions = [(case, resolution.describe(case)) for case in cases]
            return self._render_page(
                request,
                cases,
                title=f"Confirm: {resolution.label}",
                form=form,
                submit="Confirm and resolve",
                via_action=via_action,
                step="confirm",
                descriptions=descriptions,
                hide_form=True,
            )
        return self._render_page(
            request,
            cases,
            title=f"Resolve {CaseKind(kind).label} cases",
            form=form,
            submit="Next: see what it will do",
            via_action=via_action,
            step="choose",
        )

    def _dismiss_flow(self, request, cases, via_action=None):
        submitted = request.POST.get("_step") == "confirm"
        form = DismissForm(request.POST if submitted else None)
        if submitted and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._run_each(
                request, cases, lambda c: services.case_dismiss(case=c, reason=reason, actor=request.user), "dismissed"
            )
            return None
        return self._render_page(
            request, cases, title="Dismiss with a reason", form=form, submit="Dismiss", via_action=via_action
        )

    def _run_each(self, request, cases, operation, done: str) -> None:
        succeeded = 0
        for case in cases:
            try:
                operation(case)
            except ExceptionsError as error:
                self.message_user(request, f"Case #{case.pk} ({case}): {error.message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            noun = "case" if succeeded == 1 else "cases"
            self.message_user(request, f"{succeeded} {noun} {done}.", messages.SUCCESS)

    def _render_page(
        self,
        request,
        cases,
        *,
        title,
        form,
        submit,
        via_action=None,
        step="confirm",
        descriptions=None,
        hide_form=False,
    ):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "cases": cases,
            "descriptions": descriptions,
            "form": form,
            "hide_form": hide_form,
            "submit_label": submit,
            "step": step,
            "via_action": via_action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
        }
        return TemplateResponse(request, ACTION_PAGE_TEMPLATE, context)

    def _change_url(self, case) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[case.pk])


@admin.register(RoutingRule)
class RoutingRuleAdmin(CheckedHistoryAdmin):
    list_display = [
        "name",
        "kind",
        "priority",
        "conditions",
        "team",
        "blocking",
        "assignment_mode",
        "escalation_group",
        "is_active",
    ]
    list_filter = ["kind", "is_active", "team", "blocking"]
    list_select_related = ["team", "escalation_group", "customer"]
    search_fields = ["name"]
    ordering = ["kind", "priority", "id"]
    autocomplete_fields = ["team", "escalation_group"]
    raw_id_fields = ["customer"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "priority", "is_active"]}),
        (
            "Conditions (empty ones always hold)",
            {"fields": ["min_order_value", "min_order_value_currency", "customer", "region"]},
        ),
        ("Routing", {"fields": ["team", "blocking", "assignment_mode", "default_severity"]}),
        (
            "Due time per severity",
            {"fields": ["due_minutes_low", "due_minutes_normal", "due_minutes_high", "due_minutes_critical"]},
        ),
        ("Escalation", {"fields": ["escalation_group", "escalation_delay_minutes"]}),
    ]

    @admin.display(description="conditions")
    def conditions(self, rule):
        parts = []
        if rule.min_order_value is not None:
            parts.append(f"order value ≥ {rule.min_order_value} {rule.min_order_value_currency}")
        if rule.customer_id:
            parts.append(f"customer {rule.customer.account_number}")
        if rule.region:
            parts.append(f"region {rule.region}")
        return "; ".join(parts) or "always"


def _prefix(field: str, term: str) -> Q:
    return Q(**{f"{field}__istartswith": term})


def _kind_labels() -> dict[str, str]:
    return dict(CaseKind.choices)
