job "aliecs-flpqc-hook-before-deploy" {
  type        = "batch"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "flpqc"
    "nomadctl.kind"         = "hook"
    "nomadctl.manifest_sha" = "10a9455257b3f8ef243cfa483effd46da9755502cb708f9b7516f6434b42d719"
    "nomadctl.trigger"      = "before_DEPLOY"
    "nomadctl.workflow"     = "flp-dataflow"
  }

  parameterized {
    payload       = "forbidden"
    meta_optional = ["nomadctl.run_number"]
  }

  group "host-flp001-maintenance-shm-cleanup" {
    count = 1

    meta = {
      "nomadctl.critical"   = "false"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp001"
      "nomadctl.nmin"       = "0"
      "nomadctl.role"       = "flp-dataflow.host-flp001.maintenance"
      "nomadctl.timeout"    = "15s"
    }

    constraint {
      attribute = "$${node.unique.name}"
      operator  = "="
      value     = "flp001"
    }

    restart {
      attempts = 0
      interval = "24h"
      delay    = "15s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    ephemeral_disk {
      size = 70
    }

    task "shm-cleanup" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-aliecs-shmcleaner --partition flpqc --role flp001 --exit-code 0"]
      }

      env {
        O2_PARTITION = "flpqc"
        O2_ROLE      = "flp001"
        O2_SYSTEM    = "FLP"
      }

      meta = {
        "nomadctl.class"    = "shell-command"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "flp-dataflow.host-flp001.maintenance.shm-cleanup"
        "nomadctl.task_id"  = "2jnCeA6kJdE"
      }

      resources {
        cpu    = 200
        memory = 64
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }
  }
}
