"""Helpers for the admin tests: the POST a browser would send for a rendered admin form."""

from django import forms
from django.contrib.messages import get_messages


def post_data(response, **overrides) -> dict:
    data = {}
    all_forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
        all_forms.extend(inline.formset.forms)
    for form in all_forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if isinstance(field, forms.BooleanField):
                if value:
                    data[form.add_prefix(name)] = "on"
            elif isinstance(field, forms.FileField):
                continue
            elif value is not None and not isinstance(field.widget, forms.MultiWidget):
                data[form.add_prefix(name)] = value
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]
