job "aliecs-epndev-qc001" {
  type        = "service"
  datacenters = ["*"]

  meta = {
    "nomadctl.env"          = "epndev"
    "nomadctl.kind"         = "service"
    "nomadctl.manifest_sha" = "0e82ab7ea00f13a16c862ef337ebdcc79c44c5b2854f5bbb7d1d3689789e8e67"
    "nomadctl.stage"        = "qc001"
    "nomadctl.workflow"     = "epn-processing"
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

    network {
      port "occ_merger" {}
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
      size = 70
    }

    update {
      max_parallel      = 1
      health_check      = "task_states"
      min_healthy_time  = "5s"
      healthy_deadline  = "1m30s"
      progress_deadline = "2m30s"
      auto_revert       = false
    }

    task "merger" {
      driver       = "raw_exec"
      user         = "qc"
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      config {
        command = "/bin/sh"
        args    = ["-c", "/opt/o2/bin/o2-qc-merger --inputs=2 --session=epndev"]
      }

      env {
        O2_PARTITION     = "epndev"
        CCDB_TOKEN       = ""
        OCC_CONTROL_PORT = "$${NOMAD_PORT_occ_merger}"
        O2_ROLE          = "qc001"
        O2_SYSTEM        = "FLP"
        NOMAD_PORT_occ   = "$${NOMAD_PORT_occ_merger}"
      }

      meta = {
        "nomadctl.class"      = "epn-qc-merger"
        "nomadctl.connect.qc" = "service:epndev-reco-gpu-reco-qc"
        "nomadctl.control"    = "direct"
        "nomadctl.critical"   = "true"
        "nomadctl.occ_port"   = "occ_merger"
        "nomadctl.path"       = "epn-processing.qc.merger"
        "nomadctl.task_id"    = "2jnCeA6ixhW"
      }

      resources {
        cpu        = 8000
        memory     = 8192
        memory_max = -1
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }

      service {
        name = "epndev-qc001"
        port = "occ_merger"
        tags = ["aliecs", "env-epndev", "stage"]

        meta {
          env  = "epndev"
          role = "epn-processing.qc"
          kind = "host"
        }

        check {
          name     = "occ-tcp"
          type     = "tcp"
          port     = "occ_merger"
          interval = "10s"
          timeout  = "2s"
        }
      }

      consul {}

      template {
        data        = "NOMADCTL_CONNECT_QC={{ range $i, $s := service \"epndev-reco-gpu-reco-qc\" }}{{ if $i }},{{ end }}tcp://{{ $s.Address }}:{{ $s.Port }}{{ end }}\n"
        destination = "local/nomadctl-peers.env"
        change_mode = "noop"
        env         = false
      }
    }
  }
}
