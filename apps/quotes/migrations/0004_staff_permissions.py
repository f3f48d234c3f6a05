"""Give the staff groups the quote permissions their work needs.

| group         | quotes and lines            | transitions                                       | rules and configuration |
| ------------- | --------------------------- | ------------------------------------------------- | ----------------------- |
| sales         | view, add, change           | submit, send, record the answer, revise, convert  | view                    |
| sales-manager | as sales                    | as sales, plus approve                            | view, add, change, delete |
| finance       | view                        | approve                                           | view; approval rules and costs also add, change, delete |

Sales build and send quotes; sales managers and finance approve them as
the approval rules say, and keep the rules current.
"""

import importlib

from django.db import migrations

# The grant and revoke helpers that every permission migration shares.
_import_permissions = importlib.import_module("apps.core.migrations.0002_import_permissions")

_QUOTE_VIEW = ["view_quote", "view_quoteline", "view_quoteapproval", "view_quoteevent"]
_SETUP_MODELS = ["configurableproduct", "optiongroup", "configurationoption", "configurationrule", "productcost"]
_RULE_MODELS = ["approvalrule", "approvalrulestep"]
_SALES = [
    *_QUOTE_VIEW,
    "add_quote",
    "change_quote",
    "add_quoteline",
    "change_quoteline",
    "delete_quoteline",
    "submit_quote",
    "send_quote",
    "record_quote_answer",
    "revise_quote",
    "convert_quote",
    *(f"view_{model}" for model in [*_SETUP_MODELS, *_RULE_MODELS]),
]


def _edit(models):
    return [f"{verb}_{model}" for model in models for verb in ("add", "change", "delete")]


GRANTS = {
    "sales": _SALES,
    "sales-manager": [*_SALES, "approve_quote", *_edit(_SETUP_MODELS), *_edit(_RULE_MODELS)],
    "finance": [
        *_QUOTE_VIEW,
        "approve_quote",
        *(f"view_{model}" for model in [*_SETUP_MODELS, *_RULE_MODELS]),
        *_edit(_RULE_MODELS),
        *_edit(["productcost"]),
    ],
}


def grant(apps, schema_editor):
    _import_permissions.grant_permissions(apps, schema_editor, "quotes", GRANTS)


def revoke(apps, schema_editor):
    _import_permissions.revoke_permissions(apps, "quotes", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_import_permissions"),
        ("quotes", "0003_approvals_and_transitions"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
