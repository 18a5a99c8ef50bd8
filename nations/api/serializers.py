from rest_framework import serializers

from nations.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="username", read_only=True, help_text="The actor's username, or the username tried in a failed sign-in."
    )
    nation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)  # a sign-in: none
    details = serializers.DictField(read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "kind",
            "actor",
            "nation",
            "object_type",
            "object_id",
            "object_repr",
            "summary",
            "details",
            "ip_address",
            "path",
        ]
        read_only_fields = fields
