variable "environment" {
  description = "Environment name, e.g. dev or prod (tags and descriptions)."
  type        = string
}

variable "product" {
  description = "Product name (slug)."
  type        = string
}

variable "owner" {
  description = "Team accountable for the servers."
  type        = string
  default     = "platform"
}

variable "servers" {
  description = "Servers by name: what they do, their v1 backend, and an optional v2 candidate backend."
  type = map(object({
    description   = string
    backend_url   = string
    candidate_url = optional(string)
  }))
}

variable "release" {
  description = "Which version consumers get: v1, or v2 once promoted (v1 is then deprecated)."
  type        = string
  default     = "v1"
  validation {
    condition     = contains(["v1", "v2"], var.release)
    error_message = "release must be v1 or v2."
  }
}

variable "preview_candidates" {
  description = "Let this environment's consumers reach v2 candidates before their release."
  type        = bool
  default     = false
}

variable "tools" {
  description = "Tool allow-list (glob patterns); null allows every tool."
  type        = list(string)
  default     = null
}

variable "quota" {
  description = "Calls per period per subscription."
  type        = object({ calls = number, period_seconds = number })
  validation {
    condition     = var.quota.calls > 0 && var.quota.period_seconds > 0
    error_message = "quota.calls and quota.period_seconds must be positive."
  }
}

variable "rate_limit" {
  description = "Sliding-window rate limit per subscription; null for none."
  type        = object({ calls = number, period_seconds = number })
  default     = null
}

variable "consumers" {
  description = "Who gets a subscription (one each)."
  type        = list(string)
  default     = []
}
