job "aliecs-flpqc-hook-destroy" {
  type        = "batch"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "flpqc"
    "nomadctl.kind"         = "hook"
    "nomadctl.manifest_sha" = "10a9455257b3f8ef243cfa483effd46da9755502cb708f9b7516f6434b42d719"
    "nomadctl.trigger"      = "DESTROY"
    "nomadctl.workflow"     = "flp-dataflow"
  }

  parameterized {
    payload       = "forbidden"
    meta_optional = ["nomadctl.run_number"]
  }

  group "host-flp001-maintenance-roc-cleanup" {
    count = 1

    meta = {
      "nomadctl.critical"   = "true"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp001"
      "nomadctl.nmin"       = "1"
      "nomadctl.role"       = "flp-dataflow.host-flp001.maintenance"
      "nomadctl.timeout"    = "30s"
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

    task "roc-cleanup" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-roc-cleanup --all --id=#0"]
      }

      env {
        O2_PARTITION   = "flpqc"
        HOOK_EXIT_CODE = "0"
        O2_ROLE        = "flp001"
        O2_SYSTEM      = "FLP"
      }

      meta = {
        "nomadctl.class"    = "o2-roc-cleanup"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "true"
        "nomadctl.path"     = "flp-dataflow.host-flp001.maintenance.roc-cleanup"
        "nomadctl.task_id"  = "2jnCeA6ke7A"
      }

      resources {
        cpu        = 200
        memory     = 64
        memory_max = -1
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }
  }
}
