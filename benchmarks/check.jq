# The hand-written check people use today, with the ten conditions of benchmarks/policy.yaml:
#   jq -e -f benchmarks/check.jq SNAPSHOT      (exit 0: nothing matched, 1: something did)
[ .RiskRankInfo
  | (.VulAsap // [])[], (.Baseline // [])[]
  | (.RiskLevelDetail | fromjson) as $d
  | select(
      $d.imageVulAsap > 0
      or $d.imageMaliciousFileSerious > 0
      or $d.imageMaliciousFileSuspicious > 0
      or $d.imageBaselineHigh > 0
      or $d.imageVulLater > 50
      or $d.imageVulNntf >= 500
      or $d.containerAsap > 0
      or ($d.containerSerious + $d.containerSuspicious) > 0
      or $d.imageBaselineMedium > 20
      or ($d.agentlessMalicious > 0 or $d.agentlessSensitiveFile > 5)
    )
] | length == 0
