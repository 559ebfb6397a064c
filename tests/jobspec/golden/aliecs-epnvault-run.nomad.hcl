job "aliecs-epnvault-run" {
  namespace   = "online"
  type        = "batch"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "epnvault"
    "nomadctl.kind"         = "run"
    "nomadctl.manifest_sha" = "0e82ab7ea00f13a16c862ef337ebdcc79c44c5b2854f5bbb7d1d3689789e8e67"
    "nomadctl.workflow"     = "epn-processing"
  }

  parameterized {
    payload       = "forbidden"
    meta_optional = ["nomadctl.run_number"]
  }

  group "qc001" {
    count = 1

    meta = {
      "nomadctl.critical"   = "true"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "qc001"
      "nomadctl.nmin"       = "1"
      "nomadctl.role"       = "epn-processing.qc"
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

    task "run-monitor" {
      driver       = "raw_exec"
      user         = "qc"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-run-monitor --partition=epnvault --interval=10"]
      }

      env {
        O2_PARTITION = "epnvault"
        O2_ROLE      = "qc001"
        O2_SYSTEM    = "FLP"
      }

      meta = {
        "nomadctl.class"    = "epn-run-monitor"
        "nomadctl.control"  = "basic"
        "nomadctl.critical" = "true"
        "nomadctl.path"     = "epn-processing.qc.run-monitor"
        "nomadctl.task_id"  = "2jnCeA6jJBS"
      }

      resources {
        cpu    = 1000
        memory = 256
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }
  }
}
