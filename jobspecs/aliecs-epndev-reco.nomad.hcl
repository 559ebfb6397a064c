job "aliecs-epndev-reco" {
  type        = "service"
  priority    = 70
  datacenters = ["*"]
  node_pool   = "epn"

  meta = {
    "nomadctl.env"          = "epndev"
    "nomadctl.kind"         = "service"
    "nomadctl.manifest_sha" = "0e82ab7ea00f13a16c862ef337ebdcc79c44c5b2854f5bbb7d1d3689789e8e67"
    "nomadctl.stage"        = "reco"
    "nomadctl.workflow"     = "epn-processing"
  }

  group "reco" {
    count = 2

    meta = {
      "nomadctl.critical"   = "true"
      "nomadctl.group_kind" = "replicated"
      "nomadctl.max_fail"   = "0"
      "nomadctl.nmin"       = "2"
      "nomadctl.replicas"   = "2"
      "nomadctl.role"       = "epn-processing.reco"
    }

    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "occ_tf_receiver" {}
      port "occ_gpu_reco" {}
      port "ch_gpu_reco_qc" {}
    }

    restart {
      attempts = 0
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    reschedule {
      attempts       = 0
      delay          = "10s"
      delay_function = "exponential"
      max_delay      = "2m"
      unlimited      = true
    }

    disconnect {
      lost_after = "30s"
      replace    = true
      reconcile  = "keep_replacement"
    }

    ephemeral_disk {
      size = 90
    }

    update {
      max_parallel      = 2
      health_check      = "task_states"
      min_healthy_time  = "5s"
      healthy_deadline  = "1m30s"
      progress_deadline = "2m30s"
      auto_revert       = false
    }

    task "tf-receiver" {
      driver       = "raw_exec"
      user         = "epn"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-tf-receiver --session=epndev --shm-segment-size=68719476736 --id 2jnCeA6iHje -S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port $${NOMAD_PORT_occ_tf_receiver}"]
      }

      env {
        O2_PARTITION     = "epndev"
        OCC_CONTROL_PORT = "$${NOMAD_PORT_occ_tf_receiver}"
        O2_ROLE          = "$${node.unique.name}"
        O2_SYSTEM        = "FLP"
        NOMAD_PORT_occ   = "$${NOMAD_PORT_occ_tf_receiver}"
      }

      meta = {
        "nomadctl.class"    = "epn-tf-receiver"
        "nomadctl.control"  = "fairmq"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_tf_receiver"
        "nomadctl.path"     = "epn-processing.reco.tf-receiver"
        "nomadctl.task_id"  = "2jnCeA6iHje"
      }

      resources {
        cpu        = 4000
        memory     = 4096
        memory_max = -1
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }

      service {
        name = "epndev-reco"
        port = "occ_tf_receiver"
        tags = ["aliecs", "env-epndev", "stage"]

        meta {
          env  = "epndev"
          role = "epn-processing.reco"
          kind = "replicated"
        }

        check {
          name     = "occ-tcp"
          type     = "tcp"
          port     = "occ_tf_receiver"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }

    task "gpu-reco" {
      driver       = "raw_exec"
      user         = "epn"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "export CUDA_VISIBLE_DEVICES=\"$NVIDIA_VISIBLE_DEVICES\"; /opt/o2/bin/o2-gpu-reco --session=epndev --threads=4 --gpu-vendor=nvidia --id 2jnCeA6idDa -S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port $${NOMAD_PORT_occ_gpu_reco}"]
      }

      env {
        O2_PARTITION     = "epndev"
        OMP_NUM_THREADS  = "4"
        OCC_CONTROL_PORT = "$${NOMAD_PORT_occ_gpu_reco}"
        O2_ROLE          = "$${node.unique.name}"
        O2_SYSTEM        = "FLP"
        NOMAD_PORT_occ   = "$${NOMAD_PORT_occ_gpu_reco}"
      }

      meta = {
        "nomadctl.bind.qc"  = "ch_gpu_reco_qc"
        "nomadctl.class"    = "epn-reco"
        "nomadctl.control"  = "fairmq"
        "nomadctl.critical" = "true"
        "nomadctl.occ_port" = "occ_gpu_reco"
        "nomadctl.path"     = "epn-processing.reco.gpu-reco"
        "nomadctl.task_id"  = "2jnCeA6idDa"
      }

      resources {
        cpu        = 32000
        memory     = 65536
        memory_max = 98304

        device "nvidia/gpu" {
          count = 1
        }
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }

      service {
        name = "epndev-reco-gpu-reco-qc"
        port = "ch_gpu_reco_qc"
        tags = ["aliecs", "env-epndev", "channel"]

        meta {
          env       = "epndev"
          role      = "epn-processing.reco.gpu-reco"
          channel   = "qc"
          transport = "default"
          alias     = "epn-qc"
        }

        check {
          name     = "qc-tcp"
          type     = "tcp"
          port     = "ch_gpu_reco_qc"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}
