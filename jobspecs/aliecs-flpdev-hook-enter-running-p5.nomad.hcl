job "aliecs-flpdev-hook-enter-running-p5" {
  type        = "batch"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "flpdev"
    "nomadctl.kind"         = "hook"
    "nomadctl.manifest_sha" = "d3dd95cef7b531f2cdfd8b59741f9b63d20d3cc8973c46b14e55bebdb117259b"
    "nomadctl.trigger"      = "enter_RUNNING+5"
    "nomadctl.workflow"     = "flp-dataflow"
  }

  parameterized {
    payload       = "forbidden"
    meta_optional = ["nomadctl.run_number"]
  }

  group "host-flp001-maintenance-ctp-emulators-endpoint-0-ctp-emulator" {
    count = 1

    meta = {
      "nomadctl.critical"   = "false"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp001"
      "nomadctl.nmin"       = "0"
      "nomadctl.role"       = "flp-dataflow.host-flp001.maintenance.ctp-emulators.endpoint-#0"
      "nomadctl.timeout"    = "20s"
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

    task "ctp-emulator" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-roc-ctp-emulator --id=#0 --trigger-mode=periodic --exit-code=0"]
      }

      env {
        O2_ROLE   = "flp001"
        O2_SYSTEM = "FLP"
      }

      meta = {
        "nomadctl.class"    = "o2-roc-ctp-emulator"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "flp-dataflow.host-flp001.maintenance.ctp-emulators.endpoint-#0.ctp-emulator"
        "nomadctl.task_id"  = "2jnCeA6kyb6"
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

  group "host-flp001-maintenance-ctp-emulators-endpoint-1-ctp-emulator" {
    count = 1

    meta = {
      "nomadctl.critical"   = "false"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp001"
      "nomadctl.nmin"       = "0"
      "nomadctl.role"       = "flp-dataflow.host-flp001.maintenance.ctp-emulators.endpoint-#1"
      "nomadctl.timeout"    = "20s"
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

    task "ctp-emulator" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-roc-ctp-emulator --id=#1 --trigger-mode=periodic --exit-code=0"]
      }

      env {
        O2_ROLE   = "flp001"
        O2_SYSTEM = "FLP"
      }

      meta = {
        "nomadctl.class"    = "o2-roc-ctp-emulator"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "flp-dataflow.host-flp001.maintenance.ctp-emulators.endpoint-#1.ctp-emulator"
        "nomadctl.task_id"  = "2jnCeA6mK52"
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

  group "host-flp002-maintenance-ctp-emulators-endpoint-0-ctp-emulator" {
    count = 1

    meta = {
      "nomadctl.critical"   = "false"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp002"
      "nomadctl.nmin"       = "0"
      "nomadctl.role"       = "flp-dataflow.host-flp002.maintenance.ctp-emulators.endpoint-#0"
      "nomadctl.timeout"    = "20s"
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

    task "ctp-emulator" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-roc-ctp-emulator --id=#0 --trigger-mode=periodic --exit-code=0"]
      }

      env {
        O2_ROLE   = "flp002"
        O2_SYSTEM = "FLP"
      }

      meta = {
        "nomadctl.class"    = "o2-roc-ctp-emulator"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "flp-dataflow.host-flp002.maintenance.ctp-emulators.endpoint-#0.ctp-emulator"
        "nomadctl.task_id"  = "2jnCeA6oKxc"
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

  group "host-flp002-maintenance-ctp-emulators-endpoint-1-ctp-emulator" {
    count = 1

    meta = {
      "nomadctl.critical"   = "false"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp002"
      "nomadctl.nmin"       = "0"
      "nomadctl.role"       = "flp-dataflow.host-flp002.maintenance.ctp-emulators.endpoint-#1"
      "nomadctl.timeout"    = "20s"
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

    task "ctp-emulator" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "5s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-roc-ctp-emulator --id=#1 --trigger-mode=periodic --exit-code=0"]
      }

      env {
        O2_ROLE   = "flp002"
        O2_SYSTEM = "FLP"
      }

      meta = {
        "nomadctl.class"    = "o2-roc-ctp-emulator"
        "nomadctl.control"  = "hook"
        "nomadctl.critical" = "false"
        "nomadctl.path"     = "flp-dataflow.host-flp002.maintenance.ctp-emulators.endpoint-#1.ctp-emulator"
        "nomadctl.task_id"  = "2jnCeA6ofSY"
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
