job "aliecs-flpqc-flp001" {
  type        = "service"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "flpqc"
    "nomadctl.kind"         = "service"
    "nomadctl.manifest_sha" = "10a9455257b3f8ef243cfa483effd46da9755502cb708f9b7516f6434b42d719"
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
      port "occ_data_distribution_dpl_stfb" {}
      port "occ_data_distribution_dpl_dpl_readout_proxy" {}
      port "occ_data_distribution_dpl_dpl_qc_task" {}
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
      size = 130
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
        O2_PARTITION       = "flpqc"
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
        "nomadctl.task_id"  = "2jnCeA6idDa"
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
        name = "flpqc-flp001"
        port = "occ_readout"
        tags = ["aliecs", "env-flpqc", "stage"]

        meta {
          env  = "flpqc"
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

    task "data-distribution-dpl.stfb" {
      driver       = "raw_exec"
      user         = "flp"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/StfBuilder --session=default --transport=shmem --shm-segment-size=33554432 --monitoring-backend='no-op://' --discovery-partition=flpqc --discovery-id=stfb-flp001-2jnCeA6iHje --discovery-endpoint=no-op:// --detector=TST --detector-rdh=7 --detector-subspec=feeid --severity=info --output-channel-name=buildertosender   --id 2jnCeA6ixhW -S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port $${NOMAD_PORT_occ_data_distribution_dpl_stfb}"]
      }

      env {
        O2_DETECTOR       = "TST"
        O2_PARTITION      = "flpqc"
        DATADIST_FEE_MASK = "0xffff"
        OCC_CONTROL_PORT  = "$${NOMAD_PORT_occ_data_distribution_dpl_stfb}"
        O2_ROLE           = "flp001"
        O2_SYSTEM         = "FLP"
        NOMAD_PORT_occ    = "$${NOMAD_PORT_occ_data_distribution_dpl_stfb}"
      }

      meta = {
        "nomadctl.class"    = "stfbuilder"
        "nomadctl.control"  = "fairmq"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_data_distribution_dpl_stfb"
        "nomadctl.path"     = "flp-dataflow.host-flp001.data-distribution-dpl.stfb"
        "nomadctl.task_id"  = "2jnCeA6ixhW"
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

    task "data-distribution-dpl.dpl.readout-proxy" {
      driver       = "raw_exec"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-dpl-device --id 'readout-proxy' --shm-segment-size 10000000000 --session default --dpl-command 'o2-dpl-raw-proxy -b --session default --dataspec x:TST/RAWDATA | o2-qc -b' --id 2jnCeA6jJBS -S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port $${NOMAD_PORT_occ_data_distribution_dpl_dpl_readout_proxy}"]
      }

      env {
        OCC_CONTROL_PORT = "$${NOMAD_PORT_occ_data_distribution_dpl_dpl_readout_proxy}"
        O2_ROLE          = "flp001"
        O2_SYSTEM        = "FLP"
        NOMAD_PORT_occ   = "$${NOMAD_PORT_occ_data_distribution_dpl_dpl_readout_proxy}"
      }

      meta = {
        "nomadctl.class"    = "jit-flp-qc-minimal-readout-proxy"
        "nomadctl.control"  = "fairmq"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_data_distribution_dpl_dpl_readout_proxy"
        "nomadctl.path"     = "flp-dataflow.host-flp001.data-distribution-dpl.dpl.readout-proxy"
        "nomadctl.task_id"  = "2jnCeA6jJBS"
      }

      resources {
        cpu        = 20
        memory     = 10
        memory_max = -1
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }

    task "data-distribution-dpl.dpl.qc-task" {
      driver       = "raw_exec"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-dpl-device --id 'qc-task' --session default --dpl-command 'o2-dpl-raw-proxy -b --session default --dataspec x:TST/RAWDATA | o2-qc -b' --id 2jnCeA6jdfN -S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port $${NOMAD_PORT_occ_data_distribution_dpl_dpl_qc_task}"]
      }

      env {
        OCC_CONTROL_PORT = "$${NOMAD_PORT_occ_data_distribution_dpl_dpl_qc_task}"
        O2_ROLE          = "flp001"
        O2_SYSTEM        = "FLP"
        NOMAD_PORT_occ   = "$${NOMAD_PORT_occ_data_distribution_dpl_dpl_qc_task}"
      }

      meta = {
        "nomadctl.class"    = "jit-flp-qc-minimal-qc-task"
        "nomadctl.control"  = "fairmq"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_data_distribution_dpl_dpl_qc_task"
        "nomadctl.path"     = "flp-dataflow.host-flp001.data-distribution-dpl.dpl.qc-task"
        "nomadctl.task_id"  = "2jnCeA6jdfN"
      }

      resources {
        cpu        = 20
        memory     = 10
        memory_max = -1
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }
  }
}
