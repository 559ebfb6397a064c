job "aliecs-flpdev-flp001" {
  type        = "service"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "flpdev"
    "nomadctl.kind"         = "service"
    "nomadctl.manifest_sha" = "d3dd95cef7b531f2cdfd8b59741f9b63d20d3cc8973c46b14e55bebdb117259b"
    "nomadctl.stage"        = "flp001"
    "nomadctl.workflow"     = "flp-dataflow"
  }

  group "flp001" {
    count = 1

    meta = {
      "nomadctl.critical"   = "true"
      "nomadctl.group_kind" = "host"
      "nomadctl.host"       = "flp001"
      "nomadctl.nmin"       = "1"
      "nomadctl.role"       = "flp-dataflow.host-flp001"
    }

    constraint {
      attribute = "$${node.unique.name}"
      operator  = "="
      value     = "flp001"
    }

    network {
      port "occ_readout" {}
      port "occ_data_distribution_stfb" {}
      port "occ_data_distribution_stfs" {}
    }

    restart {
      attempts = 0
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    disconnect {
      lost_after = "1m"
      replace    = false
      reconcile  = "keep_original"
    }

    ephemeral_disk {
      size = 110
    }

    update {
      max_parallel      = 1
      health_check      = "task_states"
      min_healthy_time  = "5s"
      healthy_deadline  = "1m30s"
      progress_deadline = "2m30s"
      auto_revert       = false
    }

    task "readout" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-readout-exe consul-ini://127.0.0.1:8500/o2/components/readout/ANY/any/readout-flp001"]
      }

      env {
        O2_DETECTOR        = "TST"
        O2_PARTITION       = "flpdev"
        O2_INFOLOGGER_MODE = ""
        OCC_CONTROL_PORT   = "$${NOMAD_PORT_occ_readout}"
        O2_ROLE            = "flp001"
        O2_SYSTEM          = "FLP"
        NOMAD_PORT_occ     = "$${NOMAD_PORT_occ_readout}"
      }

      meta = {
        "nomadctl.class"    = "readout"
        "nomadctl.control"  = "direct"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_readout"
        "nomadctl.path"     = "flp-dataflow.host-flp001.readout"
        "nomadctl.task_id"  = "2jnCeA6jdfN"
      }

      resources {
        cpu        = 1000
        memory     = 512
        memory_max = 2048
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }

      service {
        name = "flpdev-flp001"
        port = "occ_readout"
        tags = ["aliecs", "env-flpdev", "stage"]

        meta {
          env  = "flpdev"
          role = "flp-dataflow.host-flp001"
          kind = "host"
        }

        check {
          name     = "occ-tcp"
          type     = "tcp"
          port     = "occ_readout"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }

    task "data-distribution.stfb" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/StfBuilder --session=default --transport=shmem --shm-segment-size=33554432 --monitoring-backend='no-op://' --discovery-partition=flpdev --discovery-id=stfb-flp001-2jnCeA6iHje --discovery-endpoint=no-op:// --detector=TST --detector-rdh=7 --detector-subspec=feeid --severity=info --output-channel-name=buildertosender   --id 2jnCeA6jy9J -S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port $${NOMAD_PORT_occ_data_distribution_stfb}"]
      }

      env {
        O2_DETECTOR       = "TST"
        O2_PARTITION      = "flpdev"
        DATADIST_FEE_MASK = "0xffff"
        OCC_CONTROL_PORT  = "$${NOMAD_PORT_occ_data_distribution_stfb}"
        O2_ROLE           = "flp001"
        O2_SYSTEM         = "FLP"
        NOMAD_PORT_occ    = "$${NOMAD_PORT_occ_data_distribution_stfb}"
      }

      meta = {
        "nomadctl.class"    = "stfbuilder"
        "nomadctl.control"  = "fairmq"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_data_distribution_stfb"
        "nomadctl.path"     = "flp-dataflow.host-flp001.data-distribution.stfb"
        "nomadctl.task_id"  = "2jnCeA6jy9J"
      }

      resources {
        cpu        = 2000
        memory     = 1024
        memory_max = -1
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }

    task "data-distribution.stfs" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/StfSender --session=default --transport=shmem --shm-segment-size=33554432 --input-channel-name=buildertosender --monitoring-backend='no-op://' --discovery-partition=flpdev --discovery-id=stfs-flp001-2jnCeA6idDa --discovery-endpoint=no-op:// --discovery-net-if=ib0 --severity=info --stand-alone --id 2jnCeA6kJdE -S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port $${NOMAD_PORT_occ_data_distribution_stfs}"]
      }

      env {
        O2_DETECTOR      = "TST"
        O2_PARTITION     = "flpdev"
        http_proxy       = "\"\""
        UCX_TLS          = "sm,self,dc,rc"
        OCC_CONTROL_PORT = "$${NOMAD_PORT_occ_data_distribution_stfs}"
        O2_ROLE          = "flp001"
        O2_SYSTEM        = "FLP"
        NOMAD_PORT_occ   = "$${NOMAD_PORT_occ_data_distribution_stfs}"
      }

      meta = {
        "nomadctl.class"    = "stfsender"
        "nomadctl.control"  = "fairmq"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_data_distribution_stfs"
        "nomadctl.path"     = "flp-dataflow.host-flp001.data-distribution.stfs"
        "nomadctl.task_id"  = "2jnCeA6kJdE"
      }

      resources {
        cpu        = 2000
        memory     = 1024
        memory_max = -1
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }
  }
}
