"""Seeds the periodic task the tests run: `orders.tasks.record("db")` every 2 seconds."""

from django.db import migrations


def seed(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_2s, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    PeriodicTask.objects.create(name="record-every-2s", task="orders.tasks.record", interval=every_2s,
                                args='["db"]')
    # Historical models send no signals: tell a running DatabaseScheduler, as the model would.
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
