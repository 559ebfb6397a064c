job "aliecs-flpdev-hook-before-deploy" {
  type        = "batch"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "flpdev"
    "nomadctl.kind"         = "hook"
    "nomadctl.manifest_sha" = "d3dd95cef7b531f2cdfd8b59741f9b63d20d3cc8973c46b14e55bebdb117259b"
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
        args    = ["-c", "/opt/o2/bin/o2-aliecs-shmcleaner --partition flpdev --role flp001 --exit-code 0"]
      }

      env {
        O2_PARTITION = "flpdev"
        O2_ROLE      = "flp001"
        O2_SYSTEM    = "FLP"
      }

      meta = {
        "nomadctl.class"    = "shell-command"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "flp-dataflow.host-flp001.maintenance.shm-cleanup"
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

  group "host-flp002-maintenance-shm-cleanup" {
    count = 1

    meta = {
      "nomadctl.critical"   = "false"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp002"
      "nomadctl.nmin"       = "0"
      "nomadctl.role"       = "flp-dataflow.host-flp002.maintenance"
      "nomadctl.timeout"    = "15s"
    }

    constraint {
      attribute = "$${node.unique.name}"
      operator  = "="
      value     = "flp002"
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
        args    = ["-c", "/opt/o2/bin/o2-aliecs-shmcleaner --partition flpdev --role flp002 --exit-code 0"]
      }

      env {
        O2_PARTITION = "flpdev"
        O2_ROLE      = "flp002"
        O2_SYSTEM    = "FLP"
      }

      meta = {
        "nomadctl.class"    = "shell-command"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "flp-dataflow.host-flp002.maintenance.shm-cleanup"
        "nomadctl.task_id"  = "2jnCeA6nzUg"
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
