"""The environment controller: the only place where lifecycle decisions meet I/O.

It drives the lifecycle schedule (``nomadctl.lifecycle``) against Nomad and Consul through
``nomadctl.clients``, with the jobs rendered by ``nomadctl.jobspec``. Public API in ``service``
(``Controller``), request/report types in ``model``. Modules:

==============  ====================================================================================
``service``     ``Controller``: create, transitions, GO_ERROR, teardown, crash recovery, reading
``perform``     ``Performer``: one schedule step -> its effect and reply; keeps the record truthful
``tasks``       the task step against Nomad: plan/register/wait at DEPLOY, run jobs, release
``hooks``       hook tasks as dispatched batch jobs, judged by exit code and timeout
``calls``       integration calls on a thread pool, timeouts enforced; ``plugins/`` runs them
``record``      the environment record in Consul KV (check-and-set) and the KV layout
``events``      the event log (AliECS ``Ev_*`` as JSON lines in KV), followed by ``env watch``
``locks``       the per-environment Consul lock
``runs``        the run-number counter (CAS)
``recover``     what an interrupted transition left, and what follows (pure)
``observe``     an environment's jobs and groups in Nomad, judged by ``nomadctl.health``
``planning``    planning an environment again from its record
``access``      what plugins may see and do (``odc`` acts on the EPN groups)
``status``      what ``env show``/``env list`` print
``demo``        ``nomadctl demo``'s walk through one environment's life
``settings``    ``Settings`` and the injectable ``Clock``
==============  ====================================================================================

See ``docs/controller.md``.
"""
