job "aliecs-epnvault-hook-after-stop-activity-p10" {
  namespace   = "online"
  type        = "batch"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "epnvault"
    "nomadctl.kind"         = "hook"
    "nomadctl.manifest_sha" = "0e82ab7ea00f13a16c862ef337ebdcc79c44c5b2854f5bbb7d1d3689789e8e67"
    "nomadctl.trigger"      = "after_STOP_ACTIVITY+10"
    "nomadctl.workflow"     = "epn-processing"
  }

  parameterized {
    payload       = "forbidden"
    meta_optional = ["nomadctl.run_number"]
  }

  group "qc-calib-upload" {
    count = 1

    meta = {
      "nomadctl.critical"   = "false"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "qc001"
      "nomadctl.nmin"       = "0"
      "nomadctl.role"       = "epn-processing.qc"
      "nomadctl.timeout"    = "2m"
    }

    constraint {
      attribute = "$${node.unique.name}"
      operator  = "="
      value     = "qc001"
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

    task "calib-upload" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-calib-upload --partition epnvault --exit-code 0"]
      }

      env {
        O2_PARTITION = "epnvault"
        O2_ROLE      = "qc001"
        O2_SYSTEM    = "FLP"
      }

      meta = {
        "nomadctl.class"    = "shell-command"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "epn-processing.qc.calib-upload"
        "nomadctl.task_id"  = "2jnCeA6jdfN"
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
