"""Sign-in throttling moved to django-axes (its own tables): the hand-written counters go."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0003_login_attempts"),
    ]

    operations = [
        migrations.DeleteModel(name="LoginAttemptWindow"),
    ]
