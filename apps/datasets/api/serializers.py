from rest_framework import serializers

from apps.datasets.models import DatasetKind, FileFormat


class DatasetUploadInput(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="A .csv, .tsv or .jsonl file (UTF-8, with or without a byte-order mark).",
        use_url=False,
    )
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=DatasetKind.values)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DatasetVersionUploadInput(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True, help_text="A .csv, .tsv or .jsonl file of the dataset's kind.", use_url=False
    )


class DatasetUploadQuery(serializers.Serializer):
    """Query parameters of an upload: `dry_run`, and the fields of a raw JSON-lines body."""

    dry_run = serializers.BooleanField(required=False, default=False)
    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=DatasetKind.values, required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    filename = serializers.CharField(required=False, max_length=255, default="upload.jsonl")


class IssueOutput(serializers.Serializer):
    severity = serializers.ChoiceField(choices=["error", "warning"])
    code = serializers.CharField(help_text="Stable code, e.g. `duplicate_rows`, `rare_label`.")
    message = serializers.CharField(help_text="What is wrong and what to do, for people.")
    rows = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The first 20 rows involved. CSV/TSV: spreadsheet row numbers (the header is row 1); "
        "JSON lines: line numbers.",
    )
    count = serializers.IntegerField(help_text="How many rows (or labels, texts, columns) are affected.")
    examples = serializers.ListField(child=serializers.DictField(), required=False)
    columns = serializers.ListField(child=serializers.CharField(), required=False)


class EstimateOutput(serializers.Serializer):
    strategy = serializers.CharField(help_text="head, lora or full.")
    device = serializers.CharField()
    seconds = serializers.FloatField(help_text="Estimated training time in seconds.")


class RecommendedStrategyOutput(serializers.Serializer):
    strategy = serializers.CharField(help_text="head, lora or full.")
    device = serializers.CharField()
    reason = serializers.CharField()
    seconds = serializers.FloatField(allow_null=True)


class DatasetReportOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DatasetKind.values)
    file_format = serializers.ChoiceField(choices=FileFormat.values, allow_null=True)
    has_bom = serializers.BooleanField()
    rows = serializers.IntegerField(help_text="Data rows in the file (blank lines not counted).")
    usable_rows = serializers.IntegerField(help_text="Rows kept for training (rows skipped with a warning excluded).")
    columns = serializers.ListField(child=serializers.CharField())
    labels = serializers.DictField(child=serializers.IntegerField(), help_text="Examples per label (labelled texts).")
    splits = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows per split: train, validation, test, unassigned."
    )
    issues = IssueOutput(many=True)
    estimates = EstimateOutput(many=True)
    recommended_strategy = RecommendedStrategyOutput(allow_null=True)


class DatasetOfVersionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=DatasetKind.values)


class DatasetVersionSummaryOutput(serializers.Serializer):
    version = serializers.IntegerField()
    file_format = serializers.ChoiceField(choices=FileFormat.values)
    original_filename = serializers.CharField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    row_count = serializers.IntegerField(help_text="Rows kept for training.")
    labels = serializers.ListField(child=serializers.CharField())
    issue_counts = serializers.DictField(child=serializers.IntegerField(), help_text='{"error": 0, "warning": n}')
    created_at = serializers.DateTimeField()


class DatasetVersionOutput(DatasetVersionSummaryOutput):
    dataset = DatasetOfVersionOutput()
    report = DatasetReportOutput()


class DatasetOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=DatasetKind.values)
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    version_count = serializers.IntegerField()
    latest_version = DatasetVersionSummaryOutput(allow_null=True)


class DatasetDryRunOutput(serializers.Serializer):
    dry_run = serializers.BooleanField(help_text="Always true: nothing was stored.")
    valid = serializers.BooleanField(help_text="Always true here; an invalid file is answered with 422.")
    report = DatasetReportOutput()
