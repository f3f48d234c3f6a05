"""Demo staff users, one per role, all with the documented demo password."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.core.demo.sync import SyncReport

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 -- the documented demo login, only ever set by seed_demo.

# Rows of (username, first name, group). The groups data migration creates the groups.
STAFF = [
    ("sales", "Sam Sales", "sales"),
    ("sales-manager", "Morgan Manager", "sales-manager"),
    ("finance", "Frankie Finance", "finance"),
]


def seed_users(*, report: SyncReport) -> None:
    """Create or update ``admin`` (superuser) and one staff user per group."""
    groups = {group.name: group for group in Group.objects.filter(name__in=[group for *_, group in STAFF])}
    missing = sorted({group for *_, group in STAFF} - set(groups))
    if missing:
        raise LookupError(
            f"Groups {', '.join(missing)} are missing; run `python manage.py migrate`, "
            "whose data migration creates them."
        )

    _sync_user("admin", first_name="Ada Admin", superuser=True, group=None, report=report)
    for username, first_name, group in STAFF:
        _sync_user(username, first_name=first_name, superuser=False, group=groups[group], report=report)


def _sync_user(username: str, *, first_name: str, superuser: bool, group: Group | None, report: SyncReport) -> None:
    user_model = get_user_model()
    counts = report.for_model(user_model)
    demo_fields = {
        "first_name": first_name,
        "email": f"{username}@example.com",
        "is_staff": True,
        "is_superuser": superuser,
        "is_active": True,
    }
    user = user_model.objects.filter(username=username).first()
    created = user is None
    if created:
        user = user_model(username=username, **demo_fields)
    changed = [name for name, value in demo_fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, demo_fields[name])
    # Hashing is slow and salted, so compare first: a matching password keeps its stored hash.
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        changed.append("password")

    if created:
        user.save()
    elif changed:
        user.save(update_fields=changed)
    if group is not None and not user.groups.filter(pk=group.pk).exists():
        user.groups.add(group)
        changed.append("groups")

    if created:
        counts.created += 1
    elif changed:
        counts.updated += 1
    else:
        counts.unchanged += 1
