"""Facts every page's navigation shows."""

from coordination.models import Notification
from nations import access


def portal_context(request):
    """The unread count of the bell, and what the user acts for."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_count": Notification.objects.unread_for(user).count(),
        "access": access.profile(user),
    }
