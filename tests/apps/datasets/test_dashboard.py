import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.dashboard.charts import bar_chart, line_chart
from apps.datasets.models import Dataset, DatasetVersion
from tests.apps.dashboard.markup import page, parse
from tests.factories.accounts import MembershipFactory
from tests.factories.datasets import LABELLED_CSV, make_dataset_version

pytestmark = pytest.mark.django_db


def _file(data=LABELLED_CSV, name="intents.csv"):
    return SimpleUploadedFile(name, data, content_type="text/csv")


def _counts(org, in_org):
    with in_org(org):
        return Dataset.objects.for_org(org).count(), DatasetVersion.objects.for_org(org).count()


def _signed_in(client, org, role):
    user = MembershipFactory(organization=org, role=role).user
    client.force_login(user)
    return client


def test_upload_stores_the_dataset_and_shows_its_report(owner_client, org, in_org):
    response = owner_client.post(
        f"/o/{org.slug}/datasets/upload/",
        {"name": "Support intents", "kind": "labelled_texts", "file": _file(), "description": "Help desk"},
    )

    with in_org(org):
        dataset = Dataset.objects.for_org(org).get()
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/datasets/{dataset.id}/"
    detail = owner_client.get(response["Location"])
    html = page(detail)
    assert detail.status_code == 200
    assert html.one("dataset-title").text == "Support intents"
    assert html.one("report-rows").text == "16"
    assert html.one("report-label-count").text == "2"
    chart = html.one("dataset-label-chart").one("bar-chart")
    svg = chart.all(tag="svg")[0]
    assert (svg.get("role"), svg.get("aria-label")) == ("img", "Examples per label")
    assert [cell.text for cell in chart.all(tag="td")] == ["refund", "8", "50%", "shipping", "8", "50%"]
    assert len(html.all("dataset-estimate")) == 3
    assert html.one("dataset-no-issues").text.startswith("No problems found")
    assert [row.one("dataset-version-link").text for row in html.all("dataset-version-row")] == ["v1"]
    assert "Stored Support intents version 1: 16 rows ready for training." in detail.content.decode()


def test_a_refused_file_lists_each_problem_with_its_row(owner_client, org, in_org, stored_files):
    data = b"text,label\na,x\nb,x,extra\n=SUM(A1:A9),y\nd,y\n"

    response = owner_client.post(
        f"/o/{org.slug}/datasets/upload/", {"name": "Broken", "kind": "labelled_texts", "file": _file(data)}
    )

    html = page(response)
    assert response.status_code == 422
    assert html.one("dataset-refusal-message").text.startswith("The file was not stored: 2 problems must be fixed")
    assert [
        (row.one("dataset-refusal-row").text, row.one("dataset-refusal-reason").text)
        for row in html.all("dataset-refusal-error")
    ] == [
        ("3", "Row 3 has 3 fields; the header has 2."),
        ("4", "Row 4, column 'text': '=SUM(A1:A9)' looks like a spreadsheet formula."),
    ]
    assert _counts(org, in_org) == (0, 0)
    assert stored_files() == []


def test_an_oversize_file_is_refused_with_413(owner_client, org, in_org, settings, stored_files):
    settings.DATASET_MAX_UPLOAD_BYTES = 100

    response = owner_client.post(
        f"/o/{org.slug}/datasets/upload/", {"name": "Big", "kind": "labelled_texts", "file": _file()}
    )

    assert response.status_code == 413
    assert "the limit is 100 bytes" in page(response).text
    assert _counts(org, in_org) == (0, 0)
    assert stored_files() == []


def test_missing_fields_are_400(owner_client, org, in_org):
    response = owner_client.post(f"/o/{org.slug}/datasets/upload/", {"name": "", "kind": "labelled_texts"})

    assert response.status_code == 400
    assert _counts(org, in_org) == (0, 0)


def test_list_shows_name_kind_latest_version_and_rows(owner_client, org):
    first = make_dataset_version(org, name="Intents")
    make_dataset_version(org, dataset=first.dataset, filename="v2.csv")

    html = page(owner_client.get(f"/o/{org.slug}/datasets/"))

    [row] = html.all("dataset-row")
    assert row.one("dataset-name").text == "Intents"
    assert row.one("dataset-kind").text == "Labelled texts"
    assert row.one("dataset-latest-version").text == "v2 v2.csv"
    assert row.one("dataset-rows").text == "16"


def test_upload_a_new_version_from_the_detail_page(owner_client, org, in_org):
    first = make_dataset_version(org)

    response = owner_client.post(
        f"/o/{org.slug}/datasets/{first.dataset_id}/versions/", {"file": _file(name="again.csv")}
    )
    old = page(owner_client.get(f"/o/{org.slug}/datasets/{first.dataset_id}/versions/1/"))

    assert response.status_code == 302
    assert _counts(org, in_org) == (1, 2)
    assert [row.one("dataset-version-link").text for row in old.all("dataset-version-row")] == ["v2", "v1"]
    assert "version 1 of 2 (not the latest)" in old.text


def test_detail_shows_warnings(owner_client, org):
    data = LABELLED_CSV + b"I want my money back 0,refund\n"
    version = make_dataset_version(org, data=data)

    html = page(owner_client.get(f"/o/{org.slug}/datasets/{version.dataset_id}/"))

    [issue] = html.all("dataset-issue")
    assert issue.get("data-code") == "duplicate_rows"
    assert issue.one("dataset-issue-message").text == "Row 18 repeats row 2."


def test_viewers_can_read_but_not_upload(client, org, in_org):
    version = make_dataset_version(org)
    viewer = _signed_in(client, org, "viewer")

    listing = viewer.get(f"/o/{org.slug}/datasets/")
    detail = viewer.get(f"/o/{org.slug}/datasets/{version.dataset_id}/")
    upload = viewer.post(f"/o/{org.slug}/datasets/upload/", {"name": "X", "kind": "labelled_texts", "file": _file()})
    new_version = viewer.post(f"/o/{org.slug}/datasets/{version.dataset_id}/versions/", {"file": _file()})

    assert listing.status_code == 200 and detail.status_code == 200
    assert page(listing).one("datasets-read-only")
    assert page(listing).all("dataset-upload-form") == []
    assert page(detail).all("dataset-version-upload-form") == []
    assert (upload.status_code, new_version.status_code) == (403, 403)
    assert _counts(org, in_org) == (1, 1)


def test_members_can_upload(client, org, in_org):
    member = _signed_in(client, org, "member")

    response = member.post(
        f"/o/{org.slug}/datasets/upload/", {"name": "Mine", "kind": "labelled_texts", "file": _file()}
    )

    assert response.status_code == 302
    assert _counts(org, in_org) == (1, 1)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/o/{slug}/datasets/{id}/"),
        ("get", "/o/{slug}/datasets/{id}/versions/1/"),
        ("post", "/o/{slug}/datasets/{id}/versions/"),
    ],
)
def test_another_organization_gets_404(other_owner_client, org, other_org, in_org, method, path):
    version = make_dataset_version(org)

    # Through their own organization's URL: the dataset id is not theirs.
    own = getattr(other_owner_client, method)(
        path.format(slug=other_org.slug, id=version.dataset_id), {"file": _file()} if method == "post" else {}
    )
    # Through the first organization's URL: not a member.
    foreign = getattr(other_owner_client, method)(
        path.format(slug=org.slug, id=version.dataset_id), {"file": _file()} if method == "post" else {}
    )

    assert (own.status_code, foreign.status_code) == (404, 404)
    assert _counts(org, in_org) == (1, 1)


def test_another_organization_does_not_list_them(other_owner_client, org, other_org):
    make_dataset_version(org)

    html = page(other_owner_client.get(f"/o/{other_org.slug}/datasets/"))

    assert html.all("dataset-row") == []
    assert html.one("datasets-empty")


def test_bar_chart_escapes_labels_and_has_a_text_fallback():
    html = parse(str(bar_chart([("<script>", 3), ("ok", 1)], title="Labels & counts")))

    svg = html.all(tag="svg")[0]
    assert svg.get("aria-label") == "Labels & counts"
    assert svg.all(tag="title")[0].text == "Labels & counts"
    assert [cell.text for cell in html.all(tag="td")] == ["<script>", "3", "75%", "ok", "1", "25%"]
    assert "<script>" not in str(bar_chart([("<script>", 3)]))


def test_bar_chart_groups_the_long_tail():
    items = [(f"label {n}", 1) for n in range(40)]

    html = parse(str(bar_chart(items, max_bars=30)))

    assert len(html.all(tag="rect")) == 31
    assert len(html.all(tag="tr")) == 41  # header + every label in the fallback table


def test_line_chart_draws_each_series_with_a_fallback_table():
    html = parse(
        str(
            line_chart(
                {"training loss": [(1, 0.9), (2, 0.5), (3, float("nan"))], "validation loss": [(1, 1.0), (2, 0.7)]},
                x_label="Epoch",
                y_label="Loss",
            )
        )
    )

    svg = html.all(tag="svg")[0]
    assert (svg.get("role"), svg.get("aria-label")) == ("img", "Loss by epoch")
    assert len(html.all(tag="path")) == 2
    assert [cell.text for cell in html.all(tag="td")][:3] == ["training loss", "1", "0.9"]
    assert len(html.all(tag="tr")) == 5


def test_charts_without_data_say_so():
    assert "no data" in str(bar_chart([], title="Labels"))
    assert "no data yet" in str(line_chart({"loss": []}, x_label="Epoch", y_label="Loss"))
