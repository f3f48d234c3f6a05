"""Build the POST data of an admin change form from the page Django rendered, as a browser would send it."""

from django import forms


def change_form_data(response) -> dict[str, object]:
    """Return the fields of the rendered admin form and its inline formsets with their current values."""
    data = _form_data(response.context["adminform"].form)
    for inline_admin_formset in response.context["inline_admin_formsets"]:
        formset = inline_admin_formset.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in formset.forms:
            data.update(_form_data(form))
    return data


def _form_data(form: forms.BaseForm) -> dict[str, object]:
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = field.prepare_value(form[name].value())
        if isinstance(field, forms.BooleanField):
            if value:
                data[form.add_prefix(name)] = "on"
            continue
        if value is None:
            value = ""
        data[form.add_prefix(name)] = value
    return data
