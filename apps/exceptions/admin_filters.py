"""Changelist filters of the case queue, each answered with at most one small query."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Q
from django.utils import timezone

from apps.exceptions.models import ACTIVE_STATES, CaseState


class StateFilter(admin.SimpleListFilter):
    """The case state, defaulting to the active cases (open and in progress) so that the list is a queue."""

    title = "state"
    parameter_name = "state"
    ACTIVE = "active"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [(self.ACTIVE, "Open or in progress"), *CaseState.choices, (self.ALL, "All")]

    def value(self):
        return super().value() or self.ACTIVE

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.ALL:
            return queryset
        if value == self.ACTIVE:
            return queryset.filter(state__in=ACTIVE_STATES)
        if value in CaseState.values:
            return queryset.filter(state=value)
        return queryset.none()


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        # The flag is set by the escalation task; a case past its due time
        # that the task has not reached yet counts as overdue too.
        late = Q(overdue=True) | Q(state__in=ACTIVE_STATES, due_at__lte=timezone.now())
        if self.value() == "yes":
            return queryset.filter(late)
        if self.value() == "no":
            return queryset.exclude(late)
        return queryset


class TeamFilter(admin.SimpleListFilter):
    """The case's team, offering only the user's own groups unless they are a superuser."""

    title = "team"
    parameter_name = "team"

    def lookups(self, request, model_admin):
        groups = Group.objects.order_by("name") if request.user.is_superuser else request.user.groups.order_by("name")
        return [(str(group.pk), group.name) for group in groups]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(team_id=value) if value.isdigit() else queryset.none()


class AssigneeFilter(admin.SimpleListFilter):
    """The assignee: the user, nobody, or a member of the user's teams."""

    title = "assignee"
    parameter_name = "assignee"
    ME = "me"
    NOBODY = "nobody"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.filter(is_active=True)
        if not request.user.is_superuser:
            users = users.filter(groups__in=request.user.groups.all()).distinct()
        members = [(str(user.pk), user.get_username()) for user in users.order_by("username")[:200]]
        return [(self.ME, "Me"), (self.NOBODY, "Nobody"), *members]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == self.ME:
            return queryset.filter(assignee_id=request.user.pk)
        if value == self.NOBODY:
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=value) if value.isdigit() else queryset.none()


class CustomerAccountFilter(admin.SimpleListFilter):
    """A text box for a customer account number, because a list of every customer would not fit."""

    title = "customer account"
    parameter_name = "customer_account"
    template = "admin/exceptions/exceptioncase/input_filter.html"

    def lookups(self, request, model_admin):
        return []

    def has_output(self):
        return True

    def choices(self, changelist):
        hidden = [
            (name, value)
            for name, values in changelist.filter_params.items()
            if name != self.parameter_name
            for value in values
        ]
        yield {"parameter_name": self.parameter_name, "value": self.value() or "", "hidden": hidden}

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(customer_account__iexact=value) if value else queryset
