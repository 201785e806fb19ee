"""Dynamic contextualization: cloud-init user-data (``render``, Jinja templates in
``templates/``) and OpenStack launch, list and delete (``openstack``)."""
