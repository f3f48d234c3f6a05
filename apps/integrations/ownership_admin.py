"""The admin side of the ownership map: fields another system owns, or one staff group sets, are read-only."""

from django.http import HttpRequest

from apps.core.admin import locked_field_notes, user_in_group
from apps.integrations.ownership import OWNERSHIP, externally_owned_fields, locked_note


class OwnedFieldsMixin:
    """Locks the fields that ``apps.integrations.ownership`` gives to another system or to one staff group.

    A field the ERP or the CRM owns is read-only on existing rows for everyone but superusers, because
    the owner's next update would overwrite a change made here. A new row is left editable, so that
    staff can add a record the owner has not sent yet. A back-office field with a staff group is
    read-only for everyone outside that group except superusers. For an inline, ``obj`` is the parent
    object, so the inline's rows are locked once the parent exists.
    """

    def get_locked_fields(self, request: HttpRequest, obj=None) -> dict[str, str]:
        if request.user.is_superuser:
            return {}
        model = self.model
        label = model._meta.label
        names = set(_editable_fields(model))
        notes = {}
        if obj is not None:
            for name in externally_owned_fields(label):
                if name in names:
                    notes.update(locked_field_notes(model, (name,), locked_note(label, name)))
        for entry in OWNERSHIP:
            if entry.model != label or not entry.staff_group or user_in_group(request, entry.staff_group):
                continue
            for name in entry.fields:
                if name in names:
                    notes.update(locked_field_notes(model, (name,), locked_note(label, name)))
        return notes


def _editable_fields(model) -> list[str]:
    return [field.name for field in model._meta.get_fields() if getattr(field, "editable", False)]
