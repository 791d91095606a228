from django.db import migrations


def seed(apps, schema_editor):
    from apps.billing.plans import plans_seed

    plans_seed(apps.get_model("billing", "Plan"), apps.get_model("billing", "PlanMeter"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
