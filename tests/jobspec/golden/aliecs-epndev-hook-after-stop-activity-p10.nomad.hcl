job "aliecs-epndev-hook-after-stop-activity-p10" {
  type        = "batch"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "epndev"
    "nomadctl.kind"         = "hook"
    "nomadctl.manifest_sha" = "693117b165b20fd42dc18724c66ec2c149e410119f364f3d3b1ab5d8dbf4d96e"
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
        args    = ["-c", "/opt/o2/bin/o2-calib-upload --partition epndev --exit-code 0"]
      }

      env {
        O2_PARTITION = "epndev"
        O2_ROLE      = "qc001"
        O2_SYSTEM    = "FLP"
      }

      meta = {
        "nomadctl.class"    = "shell-command"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "epn-processing.qc.calib-upload"
        "nomadctl.task_id"  = "2jnCeA6jJBS"
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
