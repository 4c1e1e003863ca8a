# Runs with real Terraform against a throwaway mcpgate:
#   eval "$(mcpgate serve --ephemeral | ...)"   (see docs/testing-modules.md)
#   MCPGATE_ENDPOINT=... MCPGATE_TOKEN=... terraform test

provider "mcp" {}

variables {
  environment = "test"
  product     = "tftest-bundle"
  servers = {
    "tftest-tools" = {
      description   = "Tools under test"
      backend_url   = "http://127.0.0.1:3001/mcp"
      candidate_url = "http://127.0.0.1:3002/mcp"
    }
  }
  tools     = ["echo", "get-*"]
  quota     = { calls = 100, period_seconds = 3600 }
  consumers = ["ci"]
}

run "released_v1_with_a_hidden_candidate" {
  command = apply

  assert {
    condition     = mcp_server_version.v1["tftest-tools"].status == "active"
    error_message = "v1 serves while it is the release"
  }
  assert {
    condition     = mcp_server_version.v2["tftest-tools"].status == "preview"
    error_message = "the candidate stays a preview"
  }
  assert {
    condition     = mcp_product_server.this["tftest-tools"].versions == null
    error_message = "without preview_candidates consumers only reach active versions"
  }
  assert {
    condition     = length(nonsensitive(mcp_subscription.consumer["ci"].primary_key)) > 40
    error_message = "the consumer gets a key"
  }
}

run "previewing_lists_the_candidate" {
  command = apply

  variables {
    preview_candidates = true
  }

  assert {
    condition     = toset(mcp_product_server.this["tftest-tools"].versions) == toset(["v1", "v2"])
    error_message = "previewing lists both versions"
  }
}

run "promotion_deprecates_v1" {
  command = apply

  variables {
    release = "v2"
  }

  assert {
    condition     = mcp_server_version.v2["tftest-tools"].status == "active" && mcp_server_version.v2["tftest-tools"].traffic_weight == 100
    error_message = "v2 takes the traffic once released"
  }
  assert {
    condition     = mcp_server_version.v1["tftest-tools"].status == "deprecated"
    error_message = "v1 is deprecated once v2 is released"
  }
}

run "a_zero_quota_is_refused" {
  command = plan

  variables {
    quota = { calls = 0, period_seconds = 3600 }
  }

  expect_failures = [var.quota]
}
