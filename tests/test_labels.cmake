# Which CTest labels each test carries: the one table for the GoogleTest cases of baton_tests and
# the CLI scripts (e2e.<script>). `ctest -L unit` is the fast lane; plain `ctest` runs them all.
#   unit  in process, no servers or child processes of note; the whole lane takes seconds
#   e2e   the CLI scripts, in-process tests that drive whole trainings or agents, and tests
#         that run another program end to end (node's tokenizer, the local provider's agents)
#   s3    needs s3rver or radosgw (tools/npm, scripts/setup.sh --test-servers)
#   slow  over about 10 s on its own
# A test takes the label of every rule that matches its name ("Suite.Test", or
# "Prefix/Suite.Test/N" when parameterised); a GoogleTest case that no rule matches is unit.
# Measure before moving a test into unit (ctest -V or Testing/Temporary/LastTest.log).
#
# Read twice: by CMakeLists.txt at configure time, for baton_test_labels() on the scripts, and by
# CTest (TEST_INCLUDE_FILES) after the discovered cases, to label baton_tests_TESTS.

set(BATON_TEST_LABEL_RULES
  # regular expression on the test's name                     label
  "^e2e\\."                                                    "e2e"
  "(^|/)(AgentTest|AgentHandoffTest|AgentNoticeTest)\\."      "e2e"
  "(^|/)TrainResume\\."                                        "e2e"
  "(^|/)(TokenizerVsJs|LocalProviderTest|LocalStoryTest|FakeEcsAgentTest|AliyunFleetTest)\\."
                                                               "e2e"
  "(^|/)AliyunEssTest\\."                                      "e2e"
  "(^|/)(HostileInputCliTest|HostileDataCliTest)\\."          "e2e"
  "(^|/)SwiftDatasetCliTest\\."                               "e2e"
  "(^|/)ReportCliTest\\."                                     "e2e"
  "(^|/)UiReportBrowserTest\\."                               "e2e"
  "(^|/)AwsMotoTest\\."                                        "e2e"
  "(^|/)AwsFleetTest\\."                                       "e2e"
  "(^|/)S3StoreTest\\."                                        "s3"
  "^e2e\\.(fault_proxy|radosgw_s3|train_chaos_s3|swift_infer_s3|store_cli)$"  "s3"
  # Measured on 2 shared cores with ctest -j2: 10 to 65 s each.
  "^e2e\\.(agent_cli|ckpt_cli|ckpt_tamper|fault_proxy|fleet_run|fleet_restart|infer_cli|numeric_cli|radosgw_s3|swift_infer_s3|swift_interop|train_chaos|train_chaos_s3|ui_browser)$"
                                                               "slow"
  "(^|/)AgentNoticeTest\\."                                    "slow"
  "(^|/)AliyunFleetTest\\.DirectMode"                           "slow"
  "(^|/)AliyunEssTest\\."                                      "slow"
  "(^|/)AwsFleetTest\\.(SpotGone|ARebalance)"                  "slow"
  "(^|/)LocalStoryTest\\."                                     "slow"
  "(^|/)SwiftDatasetCliTest\\.TheRecipesSwiftSftLineRunsUnchanged"  "slow"
  # The hindsight optimum over every scenario's windows: about 9 s each.
  "(^|/)(SimScenario\\.CommandPrintsTheRecipeTable|SimOptimum\\.NoPolicyRunCostsLessThanTheOptimum)$"
                                                               "slow"
  "(^|/)AgentTest\\.NoticeCheckpointsThenTheNextAgentCompletesExactly$"  "slow"
  "(^|/)AgentHandoffTest\\.StandbyTakesOverOnlyAfterTheHolderCheckpointed$"  "slow"
  "(^|/)TrainResume\\.(StopAtEveryPollPointIsExact|OlderTrainerIsFencedAndWritesNothing)$"
                                                               "slow"
)

# Sets `out_var` to the labels of test `name` (empty when no rule matches).
function(baton_test_labels name out_var)
  set(labels "")
  set(rules ${BATON_TEST_LABEL_RULES})
  while(rules)
    list(POP_FRONT rules regex label)
    if(name MATCHES "${regex}")
      list(APPEND labels ${label})
    endif()
  endwhile()
  list(REMOVE_DUPLICATES labels)
  set(${out_var} "${labels}" PARENT_SCOPE)
endfunction()

# At CTest time: label the GoogleTest cases (the list is empty at configure time).
foreach(baton_test IN LISTS baton_tests_TESTS)
  baton_test_labels("${baton_test}" baton_labels)
  if(NOT baton_labels)
    set(baton_labels unit)
  endif()
  set_tests_properties("${baton_test}" PROPERTIES LABELS "${baton_labels}")
endforeach()
