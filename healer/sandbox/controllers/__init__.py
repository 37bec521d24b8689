"""The sandbox's controllers: what kube-controller-manager, the scheduler and the kubelet
do in a real cluster, reduced to what makes remediation observable. `base` is the runtime;
each other module is one family of controllers."""
