from drf_spectacular.utils import extend_schema

from apps.audit.api.serializers import AuditEntryFilter, AuditEntryOutput
from apps.audit.selectors import audit_entry_list
from apps.core.api import TenantApi
from apps.core.schema import paginated


class AuditEntryListApi(TenantApi):
    required_scopes = {"GET": "admin"}

    @extend_schema(
        parameters=[AuditEntryFilter],
        responses=paginated(AuditEntryOutput),
        operation_id="audit_log_list",
        summary="Audit log",
    )
    def get(self, request):
        filters = self.parse(AuditEntryFilter, request.query_params)
        return self.paginate(audit_entry_list(organization=self.organization, **filters), AuditEntryOutput)
