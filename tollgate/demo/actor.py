"""Who the audit history names for the demo's own edits: the user `demo`.

The demo writes projects, matrices, rules and the overrunning budget through the same loaders
people use, outside any request, so simple_history would record them as made by nobody
("changed by None"). Inside `demo_actor` they are made by `demo`: a member of the demo
organization (so its admin can open the user from the history) that cannot sign in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from governance.models import Organization

ACTOR = "demo"


def demo_actor_ensure(organization: Organization) -> User:
    """The `demo` user: an inactive ops member of the organization, without a password."""
    from django.contrib.auth.models import User

    from governance.models import Membership, Role

    user, created = User.objects.get_or_create(
        username=ACTOR, defaults={"is_active": False, "first_name": "Demo setup"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(
        user=user, defaults={"organization": organization, "role": Role.OPS}
    )
    return user


@contextmanager
def demo_actor(organization: Organization) -> Iterator[User]:
    """Edits of audited rows made inside are recorded as made by `demo` (on this thread, as
    simple_history's middleware does for a request's user)."""
    from simple_history.models import HistoricalRecords

    user = demo_actor_ensure(organization)
    context = HistoricalRecords.context
    outer = getattr(context, "request", None)  # a request already recording, if any
    context.request = SimpleNamespace(user=user)
    try:
        yield user
    finally:
        if outer is None:
            del context.request
        else:
            context.request = outer
