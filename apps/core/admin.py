"""Shared admin building blocks: a history-aware base ModelAdmin and fields locked for some staff."""

import json

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections, models
from django.http import Http404, HttpRequest
from django.utils.functional import cached_property
from simple_history.admin import SimpleHistoryAdmin

# Names of the staff groups that the core data migration creates.
SALES_GROUP = "sales"
SALES_MANAGER_GROUP = "sales-manager"
FINANCE_GROUP = "finance"


def locked_field_notes(model: type[models.Model], fields: tuple[str, ...], note: str) -> dict[str, str]:
    """Return each field mapped to ``note`` followed by the field's own help text, for a locked field's help."""
    notes = {}
    for name in fields:
        own_help = str(model._meta.get_field(name).help_text)
        notes[name] = f"{note} {own_help}".strip()
    return notes


def user_in_group(request: HttpRequest, group_name: str) -> bool:
    """Return whether the requesting user is in ``group_name``, asking the database once per request."""
    cache = getattr(request, "_staff_group_names", None)
    if cache is None:
        cache = set(request.user.groups.values_list("name", flat=True))
        request._staff_group_names = cache
    return group_name in cache


class LockedFieldsMixin:
    """Shows the fields from ``get_locked_fields`` read-only, with a note as their help text.

    Works on a ``ModelAdmin`` (through ``get_form``) and on an inline (through ``get_formset``).
    A locked field is left out of the form, so a posted value for it is ignored.
    """

    def get_locked_fields(self, request: HttpRequest, obj: models.Model | None = None) -> dict[str, str]:
        """Return the fields to lock for this request and object, each mapped to its help text."""
        return {}

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        readonly += [name for name in self.get_locked_fields(request, obj) if name not in readonly]
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["help_texts"] = {**self.get_locked_fields(request, obj), **kwargs.get("help_texts", {})}
        return super().get_form(request, obj, change=change, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["help_texts"] = {**self.get_locked_fields(request, obj), **kwargs.get("help_texts", {})}
        return super().get_formset(request, obj, **kwargs)


class CheckedHistoryAdmin(SimpleHistoryAdmin):
    """simple-history's admin, whose history pages return 404 for an id that is not a valid key.

    simple-history passes the ids from the URL straight to a query, so ``abc`` in
    ``<id>/history/`` or ``<id>/history/<history_id>/`` raises ValueError on an integer key,
    and Django returns a server error (500).
    """

    def history_view(self, request, object_id, extra_context=None):
        _check_history_url_id(self.model._meta.pk, unquote(object_id))
        return super().history_view(request, object_id, extra_context=extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        _check_history_url_id(self.model._meta.pk, unquote(object_id))
        history_model = getattr(self.model, self.model._meta.simple_history_manager_attribute).model
        _check_history_url_id(history_model._meta.pk, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context=extra_context)


def _check_history_url_id(pk_field: models.Field, value: str) -> None:
    """Raise Http404 when ``value`` cannot be a value of ``pk_field``, such as text for an integer key."""
    try:
        pk_field.to_python(value)
    except ValidationError:
        raise Http404(
            f"No {pk_field.model._meta.verbose_name} has the id {value!r}. Open the history from the object's page."
        ) from None


class HistoryModelAdmin(LockedFieldsMixin, CheckedHistoryAdmin):
    """Base ModelAdmin of the project: simple-history's history pages plus locked fields."""

    history_list_per_page = 50
    # Fields left out of the change summary on the history list, such as many-to-many fields,
    # whose comparison costs two queries per listed change. Each change's own page still shows them.
    history_delta_excluded_fields: tuple[str, ...] = ()

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        """Set each listed change's summary against the change before it, and its label without queries."""
        previous = None
        for current in historical_records:
            current.history_object = _history_object_with_relations(current)
            if previous is not None:
                delta = previous.diff_against(
                    current,
                    excluded_fields=self.history_delta_excluded_fields,
                    foreign_keys_are_objs=foreign_keys_are_objs,
                )
                helper = self.get_historical_record_context_helper(request, previous)
                previous.history_delta_changes = helper.context_for_delta_changes(delta)
            previous = current


def _history_object_with_relations(record: models.Model) -> models.Model:
    """Return the record's version of the object, reusing the related objects the history query joined.

    simple-history builds a fresh object on each ``history_object`` access, so a ``__str__`` that reads
    a relation (a unit alias names its unit) would otherwise run one query per listed change.
    """
    obj = record.history_object
    model_field_names = {field.name for field in obj._meta.concrete_fields}
    for name, related in record._state.fields_cache.items():
        if name in model_field_names:
            obj._state.fields_cache[name] = related
    return obj


class PrefetchedAutocompleteSelect(AutocompleteSelect):
    """An autocomplete select that labels its selected option from an object the form already holds.

    Django's widget runs one query per rendered widget to label the selected option, so an inline
    with one row per contract price would cost a query per row. ``PrefetchedAutocompleteInline``
    hands each widget the related object that the inline's queryset already joined.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_objects: dict[str, models.Model] = {}

    def optgroups(self, name, value, attr=None):
        selected = {str(item) for item in value if str(item) not in self.choices.field.empty_values}
        if not selected or not selected <= self.known_objects.keys():
            return super().optgroups(name, value, attr)

        options = []
        if not self.is_required:
            options.append(self.create_option(name, "", "", False, 0))
        for key in sorted(selected):
            label = self.choices.field.label_from_instance(self.known_objects[key])
            options.append(self.create_option(name, key, label, selected, len(options)))
        return [(None, options, 0)]


class PrefetchedAutocompleteInline(admin.TabularInline):
    """A tabular inline whose ``autocomplete_fields`` cost no query per row.

    ``get_queryset`` joins every autocomplete relation, and each row's form passes the joined
    object to its widget. Autocomplete fields must be foreign keys to the related model's primary key.
    """

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.autocomplete_fields)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.autocomplete_fields:
            kwargs["widget"] = PrefetchedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        formset_class = super().get_formset(request, obj, **kwargs)
        relation_names = tuple(self.autocomplete_fields)

        class PrefetchedFormSet(formset_class):
            def _construct_form(self, i, **form_kwargs):
                form = super()._construct_form(i, **form_kwargs)
                for name in relation_names:
                    field = form.fields.get(name)
                    related = form.instance._state.fields_cache.get(name) if form.instance.pk else None
                    if field is None or related is None:
                        continue
                    widget = getattr(field.widget, "widget", field.widget)
                    if isinstance(widget, PrefetchedAutocompleteSelect):
                        widget.known_objects = {str(related.pk): related}
                return form

        return PrefetchedFormSet


class EstimatedCountPaginator(Paginator):
    """A changelist paginator that counts big querysets from PostgreSQL's row estimates instead of COUNT(*).

    The unfiltered table's count comes from ``pg_class.reltuples`` and a filtered queryset's from the
    planner's row estimate (``EXPLAIN``). Both are estimates refreshed by ANALYZE and autovacuum, so page
    links near the end may be off by a page or lead to an empty page. When the estimate is below
    ``exact_count_threshold``, and on other databases, the paginator runs the exact ``COUNT(*)``, which is
    cheap there.
    """

    exact_count_threshold = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, models.QuerySet) or connections[queryset.db].vendor != "postgresql":
            return super().count
        estimate = estimate_row_count(queryset)
        if estimate is None or estimate < self.exact_count_threshold:
            return super().count
        return estimate


def estimate_row_count(queryset: models.QuerySet) -> int | None:
    """Return PostgreSQL's estimate of the rows in ``queryset``, or None when the database has none yet.

    An unfiltered, ungrouped queryset reads ``pg_class.reltuples``, which PostgreSQL 14 and later set to -1
    until the first ANALYZE or VACUUM. Any other queryset reads the top row count of ``EXPLAIN (FORMAT JSON)``.
    """
    connection = connections[queryset.db]
    query = queryset.query
    if not query.where and not query.distinct and query.group_by is None and query.combinator is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table])
            row = cursor.fetchone()
        if row is None or row[0] < 0:
            return None
        return int(row[0])

    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
