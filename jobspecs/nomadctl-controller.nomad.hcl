job "nomadctl" {
  namespace   = "infra"
  type        = "service"
  priority    = 90
  datacenters = ["*"]

  meta = {
    "nomadctl.kind" = "controller"
  }

  constraint {
    operator = "distinct_hosts"
    value    = "true"
  }

  group "controller" {
    count = 2

    meta = {
      "nomadctl.role" = "controller"
    }

    network {
      port "status" {}
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    reschedule {
      attempts       = 0
      delay          = "15s"
      delay_function = "exponential"
      max_delay      = "5m"
      unlimited      = true
    }

    ephemeral_disk {
      size = 200
    }

    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "10s"
      healthy_deadline  = "2m"
      progress_deadline = "5m"
      auto_revert       = true
    }

    task "controller" {
      driver       = "raw_exec"
      user         = "nomadctl"
      kill_timeout = "30s"
      kill_signal  = "SIGTERM"

      config {
        command = "/opt/nomadctl/venv/bin/nomadctl"
        args    = ["controller", "--kv-prefix", "nomadctl", "run", "--status-addr", "$${NOMAD_ADDR_status}", "--leader-ttl", "15", "--lock-delay", "1", "--id", "$${node.unique.name}/$${NOMAD_SHORT_ALLOC_ID}"]
      }

      env {
        NOMAD_ADDR       = "https://$${attr.unique.network.ip-address}:4646"
        NOMAD_CACERT     = "/etc/nomad.d/tls/nomad-agent-ca.pem"
        CONSUL_HTTP_ADDR = "https://$${attr.unique.network.ip-address}:8501"
        CONSUL_CACERT    = "/etc/consul.d/tls/consul-agent-ca.pem"
        PYTHONUNBUFFERED = "1"
      }

      resources {
        cpu        = 2000
        memory     = 1024
        memory_max = 4096
      }

      logs {
        max_files     = 5
        max_file_size = 20
      }

      service {
        name = "nomadctl-controller"
        port = "status"
        tags = ["nomadctl", "controller"]

        check {
          name     = "status"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }

      vault {
        role        = "nomadctl-controller"
        change_mode = "restart"
      }

      template {
        data                 = "{{- with secret \"kv/data/nomadctl/controller\" }}\nNOMAD_TOKEN={{ .Data.data.nomad_token }}\nCONSUL_HTTP_TOKEN={{ .Data.data.consul_token }}\n{{- end }}\n"
        destination          = "secrets/tokens.env"
        change_mode          = "restart"
        perms                = "0600"
        env                  = true
        error_on_missing_key = true
      }
    }
  }
}
